// Measures the planner (not a test): (1) the database part of planning N subscribers over up to 24 zones
// against a bare bulk insert of the same number of delivery rows, measured in the same process on the
// same scratch database (created and dropped here); (2) the schedule-creation rate the EventBridge adapter
// sustains against an in-process fake that throttles above a set quota, and that no schedule is lost or
// duplicated. `measurePlanner` is exported for the benchmark (bench/).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx scripts/measure-planner.ts \
//     [--subscribers 100000] [--zones 24] [--rounds 3] [--schedules 3000] [--quota 200]
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createSchedules, deliveryIds, throttlingSchedulerFake } from '../bench/lib/scheduling.js';
import { createEventBridgeScheduler } from '../src/adapters/eventbridge-scheduler.js';
import { createPool, type Db, dbOnPool } from '../src/db/connection.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { seededRandom } from '../src/domain/slots.js';
import { type PlannerSettings, planDay } from '../src/services/plan-day.js';
import type { DeliveryScheduler } from '../src/services/ports.js';

export const PLANNER_ZONES = [
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
  'America/Anchorage',
  'Pacific/Honolulu',
  'America/Sao_Paulo',
  'America/St_Johns',
  'Europe/London',
  'Europe/Berlin',
  'Europe/Athens',
  'Africa/Lagos',
  'Africa/Nairobi',
  'Asia/Dubai',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Shanghai',
  'Asia/Tokyo',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Pacific/Auckland',
  'Pacific/Chatham',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
] as const;

export interface PlannerMeasurement {
  subscribers: number;
  zones: number;
  rounds: number;
  /** Delivery rows the plan phase inserted (more than subscribers: some zones get two windows). */
  deliveries: number;
  /** Plan phase of planDay (read pages, decide, bulk insert), best of `rounds`. */
  plannerMs: number;
  /** Bare `INSERT … SELECT FROM generate_series` of `deliveries` rows into the same table, best of `rounds`. */
  baselineMs: number;
  /** plannerMs / baselineMs (best against best). */
  ratio: number;
  /** Each round's plan phase ÷ the same round's bare insert, in round order. */
  roundRatios: number[];
  /** Median of `roundRatios`. */
  medianRatio: number;
  /** Schedule phase with an instant scheduler: paging and per-delivery bookkeeping only, best of `rounds`. */
  scheduleMs: number;
  /** One bare `UPDATE` setting schedule_name and scheduled_at on the same rows, best of `rounds`. */
  scheduleBaselineMs: number;
  scheduleRatio: number;
  /** Each round's schedule phase ÷ the same round's bare UPDATE. */
  scheduleRoundRatios: number[];
  scheduleMedianRatio: number;
  /** A third run with nothing left to do. */
  rerunMs: number;
  maxPerSecond: number;
  maxPerMinute: number;
}

const SETTINGS: PlannerSettings = {
  SEND_WINDOW_START: 12 * 60,
  SEND_WINDOW_END: 17 * 60,
  PLANNER_HORIZON_HOURS: 26,
  TWILIO_MESSAGES_PER_DAY: 1_000_000,
  TWILIO_MESSAGES_PER_SECOND: 10,
  OPENAI_REQUESTS_PER_MIN: 10_000,
  OPENAI_TOKENS_PER_MIN: 10_000_000,
  OPENAI_EXPECTED_TOKENS_PER_MESSAGE: 250,
};
const NOW = new Date('2026-03-07T10:00:00Z');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/**
 * Plans `subscribers` spread evenly over the first `zones` of PLANNER_ZONES on a scratch database made
 * under `adminUrl`, and times a bare bulk insert of the same number of delivery rows into the same table
 * (same indexes, foreign key and constraints) in the same process. Rounds alternate baseline and planner
 * on emptied tables; each side's best round counts, so a burst of load from elsewhere on a shared machine
 * does not decide the ratio.
 */
export async function measurePlanner(
  adminUrl: string,
  options: { subscribers?: number; zones?: number; rounds?: number } = {},
): Promise<PlannerMeasurement> {
  const subscribers = options.subscribers ?? 100_000;
  const zones = PLANNER_ZONES.slice(0, options.zones ?? PLANNER_ZONES.length);
  const rounds = options.rounds ?? 3;
  const name = `measure_planner_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = createPool({ connectionString: url.toString(), max: 2, statementTimeoutMs: 600_000 });
  // An idle connection the server drops (a restart, an operator) must fail the query that needs it, not
  // crash the process with an unhandled 'error' event.
  pool.on('error', (error) => console.error(`measure-planner: idle connection lost: ${error.message}`));
  const db = dbOnPool(pool);
  try {
    await migrateToLatest(db);
    await sql`
      INSERT INTO subscribers (phone, status, time_zone)
      SELECT '+1415' || lpad(g::text, 7, '0'), 'active', (${zones}::text[])[1 + (g % ${zones.length})]
      FROM generate_series(1, ${subscribers}) AS g`.execute(db);
    await sql`VACUUM ANALYZE subscribers`.execute(db);
    // Each round starts from no deliveries and no date decided, as a first plan for these dates does.
    const empty = () => sql`TRUNCATE deliveries, planned_dates`.execute(db);
    const instant: DeliveryScheduler = {
      schedule: async (r) => `delivery-${r.deliveryId}`,
      cancel: async () => {},
    };

    const best = { plan: Infinity, base: Infinity, schedule: Infinity, update: Infinity };
    const roundRatios: number[] = [];
    const scheduleRoundRatios: number[] = [];
    let deliveries = 0;
    let rerunMs = 0;
    let caps = { perSecond: 0, perMinute: 0 };
    for (let round = 0; round < rounds; round++) {
      // The planner's plan phase alone (the deadline stops the schedule phase before its first call),
      // then its schedule phase with an instant scheduler: paging and per-delivery bookkeeping.
      await empty();
      let planned = 0;
      const planMs = await timed(async () => {
        const s = await planDay(
          {
            db,
            scheduler: instant,
            settings: SETTINGS,
            random: seededRandom(round + 1),
            deadline: new Date(0),
          },
          NOW,
        );
        planned = s.planned;
      });
      best.plan = Math.min(best.plan, planMs);
      if (round > 0 && planned !== deliveries) {
        throw new Error(`round ${round}: planned ${planned}, round 0 planned ${deliveries}`);
      }
      deliveries = planned;
      const scheduleMs = await timed(() => planDay({ db, scheduler: instant, settings: SETTINGS }, NOW));
      best.schedule = Math.min(best.schedule, scheduleMs);
      if (round === 0) {
        rerunMs = await timed(() => planDay({ db, scheduler: instant, settings: SETTINGS }, NOW));
        caps = await maxPerSecondAndMinute(db);
      }

      // The bare baseline: the same number of rows into the same, emptied table; then one bare UPDATE.
      await empty();
      const baseMs = await timed(() => bareInsert(db, deliveries, subscribers));
      best.base = Math.min(best.base, baseMs);
      const updateMs = await timed(() =>
        sql`UPDATE deliveries SET schedule_name = 'delivery-' || id, scheduled_at = now()
            WHERE state = 'planned' AND scheduled_at IS NULL`.execute(db),
      );
      best.update = Math.min(best.update, updateMs);
      roundRatios.push(planMs / baseMs);
      scheduleRoundRatios.push(scheduleMs / updateMs);
    }
    return {
      subscribers,
      zones: zones.length,
      rounds,
      deliveries,
      plannerMs: best.plan,
      baselineMs: best.base,
      ratio: best.plan / best.base,
      roundRatios,
      medianRatio: median(roundRatios),
      scheduleMs: best.schedule,
      scheduleBaselineMs: best.update,
      scheduleRatio: best.schedule / best.update,
      scheduleRoundRatios,
      scheduleMedianRatio: median(scheduleRoundRatios),
      rerunMs,
      maxPerSecond: caps.perSecond,
      maxPerMinute: caps.perMinute,
    };
  } finally {
    await db.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function maxPerSecondAndMinute(db: Db): Promise<{ perSecond: number; perMinute: number }> {
  const { rows } = await sql<{ perSecond: number; perMinute: number }>`
    SELECT
      (SELECT max(c) FROM (SELECT count(*) c FROM deliveries WHERE state = 'planned' GROUP BY date_trunc('second', planned_at)) s)::int AS "perSecond",
      (SELECT max(c) FROM (SELECT count(*) c FROM deliveries WHERE state = 'planned' GROUP BY date_trunc('minute', planned_at)) m)::int AS "perMinute"`.execute(
    db,
  );
  return rows[0] ?? { perSecond: 0, perMinute: 0 };
}

/**
 * The simplest way to put `count` delivery rows of the same shape into the table: one INSERT … SELECT,
 * subscriber ids and local dates cycling as the planner's do, a random second in a five-hour window.
 */
async function bareInsert(db: Db, count: number, subscribers: number): Promise<void> {
  await sql`
    INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at, state)
    SELECT 1 + (g % ${subscribers}), '2026-03-07'::date + (g / ${subscribers}), 'Europe/London',
      '2026-03-07T12:00:00Z', '2026-03-07T17:00:00Z',
      '2026-03-07T12:00:00Z'::timestamptz + floor(random() * 18000) * interval '1 second', 'planned'
    FROM generate_series(0, ${count - 1}) AS g`.execute(db);
}

export interface SchedulingMeasurement {
  schedules: number;
  quotaPerSecond: number;
  seconds: number;
  /** Schedules created per second over the run. */
  rate: number;
  calls: number;
  throttled: number;
  failedAfterRetries: number;
  created: number;
  lost: number;
  duplicateCreates: number;
}

/** The EventBridge adapter creating `schedules` schedules against a fake throttling above the quota. */
export async function measureScheduling(
  schedules: number,
  quotaPerSecond: number,
): Promise<SchedulingMeasurement> {
  const fake = throttlingSchedulerFake(quotaPerSecond);
  const adapter = createEventBridgeScheduler({
    client: fake.client,
    groupName: 'measure',
    target: {
      arn: 'arn:aws:lambda:us-east-1:123456789012:function:sender',
      roleArn: 'arn:aws:iam::123456789012:role/scheduler',
      deadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:dlq',
    },
    maxConcurrency: 20,
    maxAttempts: 20,
  });
  const ids = deliveryIds(schedules);
  const { seconds, failed } = await createSchedules(adapter, ids);
  return {
    schedules,
    quotaPerSecond,
    seconds,
    rate: schedules / seconds,
    calls: fake.stats.calls,
    throttled: fake.stats.throttled,
    failedAfterRetries: failed,
    created: fake.names.size,
    lost: ids.filter((id) => !fake.names.has(`delivery-${id}`)).length,
    duplicateCreates: fake.stats.conflicts,
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      subscribers: { type: 'string', default: '100000' },
      zones: { type: 'string', default: String(PLANNER_ZONES.length) },
      rounds: { type: 'string', default: '3' },
      schedules: { type: 'string', default: '3000' },
      quota: { type: 'string', default: '200' },
    },
  });
  const [subscribers, zones, rounds, schedules, quota] = [
    values.subscribers,
    values.zones,
    values.rounds,
    values.schedules,
    values.quota,
  ].map(Number) as [number, number, number, number, number];
  if (![subscribers, zones, rounds, schedules, quota].every((n) => Number.isInteger(n) && n > 0)) {
    console.error('--subscribers, --zones, --rounds, --schedules and --quota must be positive integers');
    process.exit(2);
  }
  if (zones > PLANNER_ZONES.length) {
    console.error(`--zones must be at most ${PLANNER_ZONES.length}`);
    process.exit(2);
  }
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    console.error('DATABASE_URL must point at a Postgres server where this script may create a database');
    process.exit(2);
  }
  const m = await measurePlanner(adminUrl, { subscribers, zones, rounds });
  const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`planning: ${m.subscribers} subscribers, ${m.zones} zones, best of ${m.rounds} rounds`);
  console.log(`  plan phase (read, slot, bulk insert): ${sec(m.plannerMs)} → ${m.deliveries} deliveries`);
  console.log(`  bare INSERT … SELECT of ${m.deliveries} delivery rows: ${sec(m.baselineMs)}`);
  const list = (xs: number[]) => xs.map((x) => `${x.toFixed(2)}×`).join(', ');
  console.log(
    `  ratio best ${m.ratio.toFixed(2)}×, median ${m.medianRatio.toFixed(2)}× (rounds ${list(m.roundRatios)}; target ≤ 1.5×)`,
  );
  console.log(`  schedule bookkeeping with an instant scheduler: ${sec(m.scheduleMs)}`);
  console.log(
    `  bare UPDATE of the same rows: ${sec(m.scheduleBaselineMs)} → ratio best ${m.scheduleRatio.toFixed(2)}×, median ${m.scheduleMedianRatio.toFixed(2)}× (rounds ${list(m.scheduleRoundRatios)}; target ≤ 2×)`,
  );
  console.log(`  re-run (nothing to do): ${sec(m.rerunMs)}`);
  console.log(`  max per second ${m.maxPerSecond}, max per minute ${m.maxPerMinute}`);
  const c = await measureScheduling(schedules, quota);
  console.log(`scheduling: ${c.schedules} schedules against a fake throttling above ${c.quotaPerSecond}/s`);
  console.log(`  ${c.seconds.toFixed(2)} s → ${c.rate.toFixed(1)} schedules/s sustained`);
  console.log(`  calls ${c.calls}, throttled ${c.throttled}, failed after retries ${c.failedAfterRetries}`);
  console.log(`  created ${c.created}, lost ${c.lost}, duplicate creates ${c.duplicateCreates}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
