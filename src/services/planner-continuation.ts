// When a planner run stops at its deadline with work left (schedules not yet created, or calls that
// failed), it hands the rest to a new invocation of itself at once instead of leaving it for tomorrow's
// run. The event carries a resume token: which continuation this is and when the chain began. The work
// itself needs no token — every decision and every schedule is stored per delivery, so any run resumes it.
import * as z from 'zod';
import { logger } from '../logger.js';
import type { PlanSummary } from './plan-day.js';

/** Resume token: part of the event a continuation is invoked with. */
export const Continuation = z.object({
  /** When the first run of the chain started. */
  chainStartedAt: z.iso.datetime(),
  /** 1 for the first continuation, and so on. */
  attempt: z.int().min(1),
});
export type Continuation = z.infer<typeof Continuation>;

/** Starts a new run of the planner with `{ continuation }` as its event, without waiting for it. */
export interface PlannerInvoker {
  continueWith(continuation: Continuation): Promise<void>;
}

/** A chain stops after this many continuations (15 minutes each in AWS: some four hours of work). */
export const MAX_CONTINUATIONS = 16;

/** Deliveries a run could not finish: unscheduled when the deadline came, or whose schedule call failed. */
const workLeft = (summary: Pick<PlanSummary, 'remaining' | 'failed'>) => summary.remaining + summary.failed;

export interface ContinuationOutcome {
  /** The continuation started, or null when none was (nothing left, no progress, chain too long, error). */
  next: Continuation | null;
  /** Work left for tomorrow's daily run: what this run could not finish and did not hand on. */
  leftBehind: number;
}

/**
 * After a run: when work is left and the run made progress, starts the next run of the chain. A run that
 * made no progress (every schedule call failing, say) does not start another only to fail the same way;
 * its work waits for the daily run, and `leftBehind` says how much (the operator is alarmed on it).
 */
export async function continueIfWorkLeft(
  invoker: PlannerInvoker,
  summary: PlanSummary,
  previous: Continuation | undefined,
  now: Date,
): Promise<ContinuationOutcome> {
  const left = workLeft(summary);
  if (summary.status !== 'completed' || left === 0) return { next: null, leftBehind: 0 };
  const progressed = summary.planned + summary.scheduled + summary.replanned > 0;
  const attempt = (previous?.attempt ?? 0) + 1;
  const context = { left, attempt, chainStartedAt: previous?.chainStartedAt };
  if (!progressed) {
    logger.error('planner made no progress; what is left waits for the next daily run', context);
    return { next: null, leftBehind: left };
  }
  if (attempt > MAX_CONTINUATIONS) {
    logger.error(
      'planner continuation chain is at its limit; what is left waits for the next daily run',
      context,
    );
    return { next: null, leftBehind: left };
  }
  const next = { chainStartedAt: previous?.chainStartedAt ?? now.toISOString(), attempt };
  try {
    await invoker.continueWith(next);
  } catch (error) {
    logger.error('could not start the planner continuation; what is left waits for the next daily run', {
      ...context,
      error,
    });
    return { next: null, leftBehind: left };
  }
  logger.info('planner continues in a new invocation', { left, ...next });
  return { next, leftBehind: 0 };
}
