// Words one-machine mode prints: planner summaries and the reason a run planned nothing.
import { describe, expect, it } from 'vitest';
import { describePlan, explainNothingPlanned } from '../../src/local/describe.js';
import type { PlanSummary } from '../../src/services/plan-day.js';

const summary = (planned: number, skipped: Record<string, number> = {}): PlanSummary => ({
  status: 'completed',
  planned,
  skipped,
  scheduled: planned,
  failed: 0,
  missed: 0,
  replanned: 0,
  remaining: 0,
});

describe('describePlan', () => {
  it.each([
    [summary(0), 'Planned 0 new deliveries; 0 scheduled.'],
    [summary(1), 'Planned 1 new delivery; 1 scheduled.'],
    [summary(2, { quota: 1 }), 'Planned 2 new deliveries (skipped: 1 quota); 2 scheduled.'],
  ])('%j → %s', (s, words) => expect(describePlan(s)).toBe(words));
});

describe('explainNothingPlanned', () => {
  it.each([
    [
      { active: 0, paused: 0, pending: 2 },
      'Nobody to plan for: no active, unpaused subscriber (2 pending subscribers have not texted YES yet).',
    ],
    [
      { active: 0, paused: 1, pending: 0 },
      'Nobody to plan for: no active, unpaused subscriber (1 subscriber is paused).',
    ],
    [
      { active: 1, paused: 0, pending: 0 },
      /^1 active subscriber already has a delivery for each window in the next 26 hours/,
    ],
    [{ active: 3, paused: 0, pending: 0 }, /^3 active subscribers already have a delivery/],
  ])('%j', (counts, words) => expect(explainNothingPlanned(counts, 26)).toMatch(words));
});
