// Daily reconciliation Lambda: marks claims a crashed sender left behind, and asks Twilio about deliveries
// still open 24 h after they were claimed.
import { loadLambdaConfig } from '../adapters/secrets.js';
import { TwilioStatusLookup } from '../adapters/twilio-status-lookup.js';
import { pricesFromConfig } from '../domain/cost.js';

import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { systemClock } from '../services/ports.js';
import { reconcileDeliveries } from '../services/reconcile.js';
import { lambdaDatabase } from '../wiring/database.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';
import { deadlineFrom, scheduledRun } from './scheduled.js';

const deps = onColdStart(async () => {
  const config = await loadLambdaConfig('reconcile');
  const { db } = await lambdaDatabase(config, 'reconcile');
  return { db, lookup: new TwilioStatusLookup(config.credentials.twilio), prices: pricesFromConfig(config) };
});
const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.reconcile });

export const handler = lambdaHandler(async (event, context) => {
  scheduledRun(event);
  const { db, lookup, prices } = await deps();
  return reconcileDeliveries(
    { db, lookup, prices, clock: systemClock, metrics },
    { deadline: deadlineFrom(context, 'reconcile') },
  );
}, metrics);
