// Daily retention Lambda: clears old message text and status events in bounded batches and publishes the
// database size.
import { loadRuntimeConfig } from '../adapters/secrets.js';
import { createDb } from '../db/connection.js';
import { appendCorrelationKeys, applyLogConfig, logger } from '../logger.js';
import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { runCleanup } from '../services/cleanup.js';
import { systemClock } from '../services/ports.js';
import { onColdStart } from './cold-start.js';
import { deadlineFrom, type LambdaContextLike, ruleNameOf, ScheduledEvent } from './scheduled.js';

const deps = onColdStart(async () => {
  const config = await loadRuntimeConfig(process.env, { require: ['DATABASE_URL'] });
  applyLogConfig(config);
  const db = createDb({
    connectionString: config.DATABASE_URL as string,
    ssl: config.DATABASE_SSL,
    max: 1,
    applicationName: 'daily-positivity-cleanup',
  });
  return { config, db };
});
const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.cleanup });

export const handler = async (event: unknown, context?: LambdaContextLike) => {
  const { resources } = ScheduledEvent.parse(event);
  logger.resetKeys();
  appendCorrelationKeys({ scheduleName: ruleNameOf(resources) });
  const { config, db } = await deps();
  try {
    return await runCleanup({ db, clock: systemClock, metrics }, config, { deadline: deadlineFrom(context) });
  } finally {
    metrics.flush();
  }
};
