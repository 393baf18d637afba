// Planner Lambda: invoked once a day by an EventBridge rule; plans every subscriber's next window and
// creates the one-shot schedules. Dependencies are built once per cold start.
import * as z from 'zod';
import { loadRuntimeConfig } from '../adapters/secrets.js';
import { appendCorrelationKeys, applyLogConfig, logger } from '../logger.js';
import {
  countPlanSummary,
  type FlushableMetricsSink,
  MetricService,
  PowertoolsMetricsSink,
} from '../metrics.js';
import { type PlanDayDeps, type PlanSummary, planDay } from '../services/plan-day.js';
import { systemClock } from '../services/ports.js';
import { onColdStart } from './cold-start.js';
import { ruleNameOf } from './scheduled.js';
import { databaseFor } from './wiring/database.js';
import { eventBridgeScheduler } from './wiring/scheduler.js';

/** An EventBridge scheduled event, or `{}` from a manual invocation. */
export const PlannerEvent = z.object({
  source: z.string().optional(),
  'detail-type': z.string().optional(),
  time: z.iso.datetime().optional(),
  /** The rule's ARN: its name is the run's correlation key. */
  resources: z.array(z.string()).optional(),
});

/** Stop starting schedule calls this long before the Lambda times out; the next run resumes. */
const SAFETY_MARGIN_MS = 30_000;

async function buildPlannerDeps(): Promise<Omit<PlanDayDeps, 'deadline'>> {
  const config = await loadRuntimeConfig(process.env, {
    require: [
      'DATABASE_URL',
      'SCHEDULER_GROUP_NAME',
      'SCHEDULER_ROLE_ARN',
      'SCHEDULER_DLQ_ARN',
      'SENDER_FUNCTION_ARN',
    ],
  });
  applyLogConfig(config);
  const { db } = databaseFor(config, 'planner');
  const scheduler = eventBridgeScheduler(config);
  return { db, scheduler, settings: config };
}

// A failed build (e.g. a bad setting) is not cached: the next invocation tries again.
const deps = onColdStart(buildPlannerDeps);

const lambdaMetrics = new PowertoolsMetricsSink({ serviceName: MetricService.planner });

export const handler = (event: unknown, context?: { getRemainingTimeInMillis?: () => number }) =>
  runPlanner(event, context, lambdaMetrics);

/** The handler's body, with the metrics sink as a parameter (tests pass their own). */
export async function runPlanner(
  event: unknown,
  context: { getRemainingTimeInMillis?: () => number } | undefined,
  metrics: FlushableMetricsSink,
): Promise<PlanSummary> {
  const { resources } = PlannerEvent.parse(event);
  logger.resetKeys();
  appendCorrelationKeys({ scheduleName: ruleNameOf(resources) });
  const now = systemClock.now();
  const remaining = context?.getRemainingTimeInMillis?.();
  const deadline =
    remaining === undefined ? undefined : new Date(now.getTime() + remaining - SAFETY_MARGIN_MS);
  try {
    const summary = await planDay({ ...(await deps()), deadline }, now);
    countPlanSummary(metrics, summary);
    return summary;
  } finally {
    metrics.flush();
  }
}
