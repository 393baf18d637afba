// Planner Lambda: invoked once a day by an EventBridge rule; plans every subscriber's next window and
// creates the one-shot schedules. A run that reaches its deadline with work left starts the next run of
// itself at once, with a resume token (src/services/planner-continuation.ts).
import { createLambdaInvoker } from '../adapters/lambda-invoker.js';
import { loadLambdaConfig } from '../adapters/secrets.js';

import { countPlanSummary, MetricName, MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { planDay } from '../services/plan-day.js';
import { Continuation, continueIfWorkLeft } from '../services/planner-continuation.js';
import { systemClock } from '../services/ports.js';
import { plannerLambdaClient } from '../wiring/continuation.js';
import { lambdaDatabase } from '../wiring/database.js';
import { eventBridgeScheduler } from '../wiring/scheduler.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';
import { deadlineFrom, ScheduledEvent, scheduledRun } from './scheduled.js';

const deps = onColdStart(async () => {
  const config = await loadLambdaConfig('planner');
  const { db } = await lambdaDatabase(config, 'planner');
  return { db, scheduler: eventBridgeScheduler(config), settings: config, lambda: plannerLambdaClient() };
});
/** The daily rule's event, or a continuation's `{ continuation }`. */
const PlannerEvent = ScheduledEvent.extend({ continuation: Continuation.optional() });
const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.planner });

export const handler = lambdaHandler(async (event, context) => {
  const { continuation } = scheduledRun(event, PlannerEvent);
  const now = systemClock.now();
  const { lambda, ...plan } = await deps();
  const summary = await planDay({ ...plan, deadline: deadlineFrom(context, 'planner', now.getTime()) }, now);
  countPlanSummary(metrics, summary);
  const self = context.invokedFunctionArn ?? process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'planner';
  const { next, leftBehind } = await continueIfWorkLeft(
    createLambdaInvoker(lambda, self),
    summary,
    continuation,
    now,
  );
  metrics.count(MetricName.PlannerWorkLeft, leftBehind);
  return { ...summary, continuation: next, leftBehind };
}, metrics);
