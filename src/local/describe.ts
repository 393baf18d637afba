// Words for people (dev page notes, CLI output): what a run did, what went wrong — never a stack trace.
import type { PlanSummary } from '../services/plan-day.js';

/** "1 delivery", "2 deliveries". */
export function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Words for the dev page and the CLI: what a planner run did. */
export function describePlan(s: PlanSummary): string {
  const skipped = Object.entries(s.skipped)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  return (
    `Planned ${count(s.planned, 'new delivery', 'new deliveries')}` +
    `${skipped ? ` (skipped: ${skipped})` : ''}; ${s.scheduled} scheduled.`
  );
}

/** Who the planner looked at: active subscribers it may plan for, and those it leaves out. */
export interface PlannableCounts {
  active: number;
  paused: number;
  pending: number;
}

/** Why a run planned nothing, in words ("Planned 0" alone reads like a fault). */
export function explainNothingPlanned(c: PlannableCounts, horizonHours: number): string {
  if (c.active === 0) {
    const pending = c.pending
      ? ` (${count(c.pending, 'pending subscriber has', 'pending subscribers have')} not texted YES yet)`
      : '';
    const paused = c.paused ? ` (${count(c.paused, 'subscriber is', 'subscribers are')} paused)` : '';
    return `Nobody to plan for: no active, unpaused subscriber${pending}${paused}.`;
  }
  const who = count(c.active, 'active subscriber already has', 'active subscribers already have');
  return (
    `${who} a delivery for each window in the next ${horizonHours} hours ` +
    '(sent, planned or skipped: one message per local day).'
  );
}

/** An error's message for a person. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
