// Measures the planner (not a test): (1) the database part of planning N subscribers over 24 zones, on a
// scratch database it creates and drops; (2) the schedule-creation rate the EventBridge adapter sustains
// against an in-process fake that throttles above a set quota, and that no schedule is lost or duplicated.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx scripts/measure-planner.ts \
//     [--subscribers 100000] [--schedules 3000] [--quota 200]
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createEventBridgeScheduler } from '../src/adapters/eventbridge-scheduler.js';
import { createDb } from '../src/db/connection.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { seededRandom } from '../src/domain/slots.js';
import { type PlannerSettings, planDay } from '../src/services/plan-day.js';
import type { DeliveryScheduler } from '../src/services/ports.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100000' },
    schedules: { type: 'string', default: '3000' },
    quota: { type: 'string', default: '200' },
  },
});
const subscribers = Number(values.subscribers);
const schedules = Number(values.schedules);
const quotaPerSecond = Number(values.quota);
if (![subscribers, schedules, quotaPerSecond].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('--subscribers, --schedules and --quota must be positive integers');
  process.exit(2);
}
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  console.error('DATABASE_URL must point at a Postgres server where this script may create a database');
  process.exit(2);
}

const ZONES = [
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
];

async function measurePlanning() {
  const name = `measure_planner_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl as string);
  url.pathname = `/${name}`;
  const db = createDb({ connectionString: url.toString(), max: 4, statementTimeoutMs: 300_000 });
  try {
    await migrateToLatest(db);
    await sql`
      INSERT INTO subscribers (phone, status, time_zone)
      SELECT '+1415' || lpad(g::text, 7, '0'), 'active', (${ZONES}::text[])[1 + (g % ${ZONES.length})]
      FROM generate_series(1, ${subscribers}) AS g`.execute(db);
    await sql`ANALYZE subscribers`.execute(db);

    const settings: PlannerSettings = {
      SEND_WINDOW_START: 12 * 60,
      SEND_WINDOW_END: 17 * 60,
      PLANNER_HORIZON_HOURS: 26,
      TWILIO_MESSAGES_PER_DAY: 1_000_000,
      TWILIO_MESSAGES_PER_SECOND: 10,
      OPENAI_REQUESTS_PER_MIN: 10_000,
      OPENAI_TOKENS_PER_MIN: 10_000_000,
      OPENAI_EXPECTED_TOKENS_PER_MESSAGE: 250,
    };
    let created = 0;
    const instant: DeliveryScheduler = {
      schedule: async (r) => {
        created++;
        return `delivery-${r.deliveryId}`;
      },
      cancel: async () => {},
    };
    const now = new Date('2026-03-07T10:00:00Z');
    // Phase 1 alone (the deadline stops phase 2 before it starts), then phase 2's bookkeeping alone.
    let t = performance.now();
    const planned = await planDay(
      { db, scheduler: instant, settings, random: seededRandom(1), deadline: new Date(0) },
      now,
    );
    const planMs = performance.now() - t;
    t = performance.now();
    const scheduled = await planDay({ db, scheduler: instant, settings, random: seededRandom(2) }, now);
    const scheduleMs = performance.now() - t;
    t = performance.now();
    const rerun = await planDay({ db, scheduler: instant, settings, random: seededRandom(3) }, now);
    const rerunMs = performance.now() - t;
    const { rows } = await sql<{ n: number; per_second: number; per_minute: number }>`
      SELECT count(*)::int AS n,
        (SELECT max(c) FROM (SELECT count(*) c FROM deliveries GROUP BY date_trunc('second', planned_at)) s)::int AS per_second,
        (SELECT max(c) FROM (SELECT count(*) c FROM deliveries GROUP BY date_trunc('minute', planned_at)) m)::int AS per_minute
      FROM deliveries WHERE state = 'planned'`.execute(db);
    console.log(`planning: ${subscribers} subscribers, ${ZONES.length} zones`);
    console.log(
      `  plan phase (read, slot, bulk insert): ${(planMs / 1000).toFixed(2)} s → ${planned.planned} deliveries planned`,
    );
    console.log(
      `  schedule bookkeeping with an instant scheduler: ${(scheduleMs / 1000).toFixed(2)} s → ${scheduled.scheduled} recorded`,
    );
    console.log(
      `  re-run (nothing to do): ${(rerunMs / 1000).toFixed(2)} s → planned ${rerun.planned}, scheduled ${rerun.scheduled}`,
    );
    console.log(
      `  rows ${rows[0]?.n}, max per second ${rows[0]?.per_second}, max per minute ${rows[0]?.per_minute}, schedule calls ${created}`,
    );
  } finally {
    await db.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** A fake Scheduler API: ~15 ms per call, ThrottlingException above `quotaPerSecond` (token bucket). */
function throttlingFake(perSecond: number) {
  let tokens = perSecond;
  let last = performance.now();
  const names = new Set<string>();
  const stats = { calls: 0, throttled: 0, conflicts: 0 };
  const send = async (command: { input: unknown }) => {
    stats.calls++;
    await new Promise((r) => setTimeout(r, 15));
    const nowMs = performance.now();
    tokens = Math.min(perSecond, tokens + ((nowMs - last) / 1000) * perSecond);
    last = nowMs;
    if (tokens < 1) {
      stats.throttled++;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    tokens -= 1;
    const { Name } = command.input as { Name: string };
    if (names.has(Name)) {
      stats.conflicts++;
      throw Object.assign(new Error('exists'), { name: 'ConflictException' });
    }
    names.add(Name);
    return {};
  };
  return { client: { send } as never, names, stats };
}

async function measureScheduling() {
  const fake = throttlingFake(quotaPerSecond);
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
  const ids = Array.from(
    { length: schedules },
    (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  );
  const at = new Date(Date.now() + 3_600_000);
  const windowEnd = new Date(at.getTime() + 3_600_000);
  // The planner's own concurrency (16 in flight) on top of the adapter's adaptive gate, as in planDay.
  let next = 0;
  let failed = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        await adapter.schedule({ deliveryId: id, at, windowEnd }).catch(() => failed++);
      }
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  const lost = ids.filter((id) => !fake.names.has(`delivery-${id}`)).length;
  console.log(`scheduling: ${schedules} schedules against a fake throttling above ${quotaPerSecond}/s`);
  console.log(`  ${seconds.toFixed(2)} s → ${(schedules / seconds).toFixed(1)} schedules/s sustained`);
  console.log(
    `  calls ${fake.stats.calls}, throttled ${fake.stats.throttled}, failed after retries ${failed}`,
  );
  console.log(`  created ${fake.names.size}, lost ${lost}, duplicate creates ${fake.stats.conflicts}`);
}

await measurePlanning();
await measureScheduling();
