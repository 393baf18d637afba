// Daily report Lambda: logs yesterday's (UTC) sends, delivery rate, opt-outs and cost as one line, and
// returns the typed report. `{ "day": "YYYY-MM-DD" }` reports another day.
import * as z from 'zod';
import { loadRuntimeConfig } from '../adapters/secrets.js';
import { createDb } from '../db/connection.js';
import { appendCorrelationKeys, applyLogConfig, logger } from '../logger.js';
import { buildDailyReport, previousUtcDay } from '../services/daily-report.js';
import { systemClock } from '../services/ports.js';
import { onColdStart } from './cold-start.js';
import { ruleNameOf } from './scheduled.js';

const database = onColdStart(async () => {
  const config = await loadRuntimeConfig(process.env, { require: ['DATABASE_URL'] });
  applyLogConfig(config);
  return createDb({
    connectionString: config.DATABASE_URL as string,
    ssl: config.DATABASE_SSL,
    max: 1,
    applicationName: 'daily-positivity-report',
  });
});

const ReportEvent = z.looseObject({
  day: z.iso.date().optional(),
  resources: z.array(z.string()).optional(),
});

export const handler = async (event: unknown) => {
  const { day, resources } = ReportEvent.parse(event ?? {});
  logger.resetKeys();
  appendCorrelationKeys({ scheduleName: ruleNameOf(resources) });
  return buildDailyReport({ db: await database() }, day ?? previousUtcDay(systemClock.now()));
};
