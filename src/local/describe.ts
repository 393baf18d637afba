// Words for people (dev page notes, CLI output): what a run did, what went wrong — never a stack trace.
import type { PlanSummary } from '../services/plan-day.js';

/** Words for the dev page: what a planner run did. */
export function describePlan(s: PlanSummary): string {
  const skipped = Object.entries(s.skipped)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  return `Planned ${s.planned} new deliveries${skipped ? ` (skipped: ${skipped})` : ''}; ${s.scheduled} scheduled.`;
}

/** An error's message for a person. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
