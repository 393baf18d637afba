// Daily reconciliation Lambda: asks Twilio about deliveries still open 24 h after they were claimed.
import { loadRuntimeConfig } from '../adapters/secrets.js';
import { TwilioStatusLookup } from '../adapters/twilio-status-lookup.js';
import { createDb } from '../db/connection.js';
import { appendCorrelationKeys, applyLogConfig, logger } from '../logger.js';
import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { systemClock } from '../services/ports.js';
import { reconcileDeliveries } from '../services/reconcile.js';
import { onColdStart } from './cold-start.js';
import { deadlineFrom, type LambdaContextLike, ruleNameOf, ScheduledEvent } from './scheduled.js';

const deps = onColdStart(async () => {
  const config = await loadRuntimeConfig(process.env, {
    require: ['DATABASE_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'],
  });
  applyLogConfig(config);
  const db = createDb({
    connectionString: config.DATABASE_URL as string,
    ssl: config.DATABASE_SSL,
    max: 1,
    applicationName: 'daily-positivity-reconcile',
  });
  const lookup = new TwilioStatusLookup({
    accountSid: config.secrets.TWILIO_ACCOUNT_SID as string,
    authToken: config.secrets.TWILIO_AUTH_TOKEN as string,
  });
  return { db, lookup };
});
const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.reconcile });

export const handler = async (event: unknown, context?: LambdaContextLike) => {
  const { resources } = ScheduledEvent.parse(event);
  logger.resetKeys();
  appendCorrelationKeys({ scheduleName: ruleNameOf(resources) });
  const { db, lookup } = await deps();
  try {
    return await reconcileDeliveries(
      { db, lookup, clock: systemClock, metrics },
      { deadline: deadlineFrom(context) },
    );
  } finally {
    metrics.flush();
  }
};
