// Shared edge for the daily scheduled Lambdas (cleanup, reconciliation, report): the event they accept
// and the deadline derived from the Lambda's remaining time.
import * as z from 'zod';

/** An EventBridge scheduled event, or {} when invoked by hand. Extra fields are ignored. */
export const ScheduledEvent = z.looseObject({
  time: z.iso.datetime().optional(),
  /** The rule's ARN: its name is the run's correlation key (scheduleName). */
  resources: z.array(z.string()).optional(),
});

/** `arn:aws:events:…:rule/<name>` → `<name>`; undefined for a manual invocation. */
export const ruleNameOf = (resources: string[] | undefined): string | undefined =>
  resources?.[0]?.split('/').at(-1);

export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
}

/** Stop starting new work this long before the Lambda would be killed. */
const SAFETY_MARGIN_MS = 30_000;

export function deadlineFrom(context: LambdaContextLike | undefined, now = Date.now()): Date | undefined {
  if (!context) return undefined;
  return new Date(now + Math.max(0, context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS));
}
