// Daily report Lambda: logs yesterday's (UTC) sends, delivery rate, opt-outs and cost as one line, and
// returns the typed report. `{ "day": "YYYY-MM-DD" }` reports another day.
import * as z from 'zod';
import { loadLambdaConfig } from '../adapters/secrets.js';

import { buildDailyReport, previousUtcDay } from '../services/daily-report.js';
import { systemClock } from '../services/ports.js';
import { lambdaDatabase } from '../wiring/database.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';
import { ScheduledEvent, scheduledRun } from './scheduled.js';

const database = onColdStart(async () => {
  const config = await loadLambdaConfig('daily-report');
  return (await lambdaDatabase(config, 'daily-report')).db;
});

const ReportEvent = ScheduledEvent.extend({ day: z.iso.date().optional() });

export const handler = lambdaHandler(async (event) => {
  const { day } = scheduledRun(event, ReportEvent);
  return buildDailyReport({ db: await database() }, day ?? previousUtcDay(systemClock.now()));
});
