// Planner Lambda: invoked once a day by an EventBridge rule; plans every subscriber's next window and
// creates the one-shot schedules.
import { loadLambdaConfig } from '../adapters/secrets.js';

import { countPlanSummary, MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { planDay } from '../services/plan-day.js';
import { systemClock } from '../services/ports.js';
import { lambdaDatabase } from '../wiring/database.js';
import { eventBridgeScheduler } from '../wiring/scheduler.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';
import { deadlineFrom, scheduledRun } from './scheduled.js';

const deps = onColdStart(async () => {
  const config = await loadLambdaConfig('planner');
  const { db } = await lambdaDatabase(config, 'planner', { statementTimeoutMs: 120_000 });
  return { db, scheduler: eventBridgeScheduler(config), settings: config };
});
const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.planner });

export const handler = lambdaHandler(async (event, context) => {
  scheduledRun(event);
  const now = systemClock.now();
  const summary = await planDay({ ...(await deps()), deadline: deadlineFrom(context, now.getTime()) }, now);
  countPlanSummary(metrics, summary);
  return summary;
}, metrics);
