// Daily retention Lambda: clears old message text and status events, and sign-ups nobody answered, in
// bounded batches and publishes the database size.
import { loadLambdaConfig } from '../adapters/secrets.js';

import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { runCleanup } from '../services/cleanup.js';
import { systemClock } from '../services/ports.js';
import { lambdaDatabase } from '../wiring/database.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';
import { deadlineFrom, scheduledRun } from './scheduled.js';

const deps = onColdStart(async () => {
  const config = await loadLambdaConfig('cleanup');
  const { db } = await lambdaDatabase(config, 'cleanup');
  return { config, db };
});
const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.cleanup });

export const handler = lambdaHandler(async (event, context) => {
  scheduledRun(event);
  const { config, db } = await deps();
  return runCleanup({ db, clock: systemClock, metrics }, config, {
    deadline: deadlineFrom(context, 'cleanup'),
  });
}, metrics);
