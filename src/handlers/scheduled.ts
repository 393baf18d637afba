// Shared edge for the daily scheduled Lambdas (planner, cleanup, reconciliation, report): the event they
// accept, the run's correlation key, and the deadline derived from the Lambda's remaining time.
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { DEADLINE_MARGIN_MS } from '../domain/call-budgets.js';
import { appendCorrelationKeys } from '../logger.js';

/** An EventBridge scheduled event, or {} when invoked by hand. Extra fields are ignored. */
export const ScheduledEvent = z.looseObject({
  time: z.iso.datetime().optional(),
  /** The rule's ARN: its name is the run's correlation key (scheduleName). */
  resources: z.array(z.string()).optional(),
});

/** `arn:aws:events:…:rule/<name>` → `<name>`; undefined for a manual invocation. */
const ruleNameOf = (resources: string[] | undefined): string | undefined => resources?.[0]?.split('/').at(-1);

/** Parses a scheduled event (or an extension of it) and puts the rule's name on every log line of this run. */
export function scheduledRun<S extends typeof ScheduledEvent>(
  event: unknown,
  schema: S = ScheduledEvent as S,
): z.infer<S> {
  const parsed = schema.parse(event ?? {});
  appendCorrelationKeys({ scheduleName: ruleNameOf(parsed.resources) });
  return parsed;
}

/**
 * When the run stops starting new work: its margin (DEADLINE_MARGIN_MS) before the Lambda would be stopped,
 * room for what is in flight then and what ends the run. The next run resumes.
 */
export function deadlineFrom(
  context: Partial<Pick<Context, 'getRemainingTimeInMillis'>> | undefined,
  lambda: keyof typeof DEADLINE_MARGIN_MS,
  now = Date.now(),
): Date | undefined {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined) return undefined;
  return new Date(now + Math.max(0, remaining - DEADLINE_MARGIN_MS[lambda]));
}
