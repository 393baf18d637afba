// Measures the retention cleanup on 1,000,000 old rows (not a test: prints figures for docs/observability.md).
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx scripts/measure-cleanup.ts [rows]
// Without DATABASE_URL it starts embedded Postgres in a temp directory. It creates and drops its own
// database. Two phases: deleting old delivery_status_events, and clearing old deliveries.body (an
// UPDATE, the heavier path: new row versions, index and trigger work).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createDb } from '../src/db/connection.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { type EmbeddedServer, startEmbeddedPostgres } from '../src/local/embedded-postgres.js';
import { createLogger } from '../src/logger.js';
import { InMemoryMetricsSink } from '../src/metrics.js';
import { DEFAULT_CLEANUP_BATCH, runCleanup } from '../src/services/cleanup.js';

const rows = Number(process.argv[2] ?? 1_000_000);
if (!Number.isInteger(rows) || rows < 1000) {
  console.error('usage: measure-cleanup.ts [rows ≥ 1000]');
  process.exit(2);
}
const KEPT = Math.round(rows / 10);

function withDatabase(url: string, database: string) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin(url: string, text: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

let embedded: EmbeddedServer | undefined;
let tempDir: string | undefined;
let adminUrl = process.env.DATABASE_URL ? withDatabase(process.env.DATABASE_URL, 'postgres') : '';
if (!adminUrl) {
  tempDir = await mkdtemp(path.join(tmpdir(), 'dps-measure-'));
  embedded = await startEmbeddedPostgres({ dataDir: path.join(tempDir, 'data'), ephemeral: true });
  adminUrl = embedded.url('postgres');
}
const name = `dps_measure_${Date.now().toString(36)}`;
await admin(adminUrl, `CREATE DATABASE ${name}`);
const url = withDatabase(adminUrl, name);
const migrator = new Kysely<unknown>({
  dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }),
});
await migrateToLatest(migrator);
await migrator.destroy();
const db = createDb({ connectionString: url, max: 2, statementTimeoutMs: 600_000 });
const now = new Date();
const quiet = createLogger({ level: 'SILENT' });
const config = { RETENTION_DAYS: 90, CONSENT_RETENTION_DAYS: 1825, PENDING_EXPIRY_DAYS: 30 };

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, (performance.now() - t0) / 1000];
}

try {
  const { rows: version } = await sql<{ v: string }>`SELECT version() AS v`.execute(db);
  console.log(`${version[0]?.v}`);
  console.log(`seeding ${rows.toLocaleString()} old + ${KEPT.toLocaleString()} recent rows per table…`);

  // Phase 1: delivery_status_events, 100–400 days old, plus recent ones that must stay.
  await sql`INSERT INTO delivery_status_events (message_sid, status, error_code, received_at)
    SELECT 'SM' || lpad(to_hex(g), 32, '0'), 'delivered', NULL, now() - interval '100 days' - (g % 300) * interval '1 day'
    FROM generate_series(1, ${rows}) g`.execute(db);
  await sql`INSERT INTO delivery_status_events (message_sid, status, received_at)
    SELECT 'SMnew' || g, 'delivered', now() - (g % 80) * interval '1 day' FROM generate_series(1, ${KEPT}) g`.execute(
    db,
  );

  // Phase 2: deliveries with a body — 10,000 subscribers × (rows / 10,000) old days, plus recent days.
  const subscribers = 10_000;
  const oldDays = Math.ceil(rows / subscribers);
  const recentDays = Math.ceil(KEPT / subscribers);
  await sql`INSERT INTO subscribers (phone, time_zone, status)
    SELECT '+1415' || lpad(g::text, 7, '0'), 'UTC', 'active' FROM generate_series(1, ${subscribers}) g`.execute(
    db,
  );
  await sql`INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at,
      state, claimed_at, sent_at, message_sid, body, segments, created_at)
    SELECT s.id, d::date, 'UTC', d + interval '12 hours', d + interval '17 hours', d + interval '13 hours',
      'sent', d + interval '13 hours', d + interval '13 hours', 'SM' || s.id || '_' || to_char(d, 'YYYYMMDD'),
      'You are doing better than you think. Keep going, one small step at a time.', 1, d
    FROM subscribers s,
      generate_series(date_trunc('day', now()) - (${oldDays} + 99) * interval '1 day',
                      date_trunc('day', now()) - 100 * interval '1 day', interval '1 day') d`.execute(db);
  await sql`INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at,
      state, claimed_at, sent_at, message_sid, body, segments, created_at)
    SELECT s.id, d::date, 'UTC', d + interval '12 hours', d + interval '17 hours', d + interval '13 hours',
      'sent', d + interval '13 hours', d + interval '13 hours', 'SM' || s.id || '_' || to_char(d, 'YYYYMMDD'),
      'Recent words.', 1, d
    FROM subscribers s,
      generate_series(date_trunc('day', now()) - ${recentDays} * interval '1 day',
                      date_trunc('day', now()) - interval '1 day', interval '1 day') d`.execute(db);
  await sql`VACUUM ANALYZE`.execute(db);

  const cutoff = new Date(now.getTime() - config.RETENTION_DAYS * 86_400_000);
  const { rows: plan } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN
    UPDATE deliveries SET body = NULL WHERE id IN (
      SELECT id FROM deliveries WHERE body IS NOT NULL AND created_at < ${cutoff}
      ORDER BY created_at LIMIT ${DEFAULT_CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)`.execute(db);
  console.log(`plan of one body-clearing batch:\n  ${plan.map((r) => r['QUERY PLAN']).join('\n  ')}`);

  const { rows: counts } = await sql<{ events: number; bodies: number }>`SELECT
    (SELECT count(*)::int FROM delivery_status_events WHERE received_at < ${cutoff}) AS events,
    (SELECT count(*)::int FROM deliveries WHERE body IS NOT NULL AND created_at < ${cutoff}) AS bodies`.execute(
    db,
  );
  console.log(`old rows: ${counts[0]?.events} status events, ${counts[0]?.bodies} delivery bodies`);

  const [result, seconds] = await time(() =>
    runCleanup({ db, clock: { now: () => now }, metrics: new InMemoryMetricsSink(), logger: quiet }, config),
  );
  const { rows: left } = await sql<{ events: number; bodies: number }>`SELECT
    (SELECT count(*)::int FROM delivery_status_events) AS events,
    (SELECT count(*)::int FROM deliveries WHERE body IS NOT NULL) AS bodies`.execute(db);
  const touched = result.statusEventsDeleted + result.deliveryBodiesCleared;
  console.log(
    `cleanup: ${result.statusEventsDeleted} status events deleted, ${result.deliveryBodiesCleared} bodies cleared ` +
      `in ${result.batches} batches of ≤${DEFAULT_CLEANUP_BATCH}; ${seconds.toFixed(1)} s total, ` +
      `${Math.round(touched / seconds).toLocaleString()} rows/s`,
  );
  console.log(
    `kept: ${left[0]?.events} recent status events, ${left[0]?.bodies} recent bodies; database ${(result.databaseSizeBytes / 1e6).toFixed(0)} MB`,
  );

  // Per-path rates, each on its own fresh old rows.
  await sql`UPDATE deliveries SET body = 'again' WHERE created_at < ${cutoff}`.execute(db);
  await sql`VACUUM ANALYZE deliveries`.execute(db);
  const { clearDeliveryBodies, deleteStatusEvents } = await import('../src/db/repositories/retention.js');
  const drain = async (step: () => Promise<number>) => {
    let total = 0;
    for (let n = DEFAULT_CLEANUP_BATCH; n === DEFAULT_CLEANUP_BATCH; total += n) n = await step();
    return total;
  };
  const [cleared, tBodies] = await time(() =>
    drain(() => clearDeliveryBodies(db, cutoff, DEFAULT_CLEANUP_BATCH)),
  );
  console.log(
    `  UPDATE deliveries.body → NULL: ${cleared} rows in ${tBodies.toFixed(1)} s = ${Math.round(cleared / tBodies).toLocaleString()} rows/s`,
  );
  await sql`INSERT INTO delivery_status_events (message_sid, status, received_at)
    SELECT 'SMold' || g, 'sent', now() - interval '200 days' FROM generate_series(1, ${rows}) g`.execute(db);
  await sql`VACUUM ANALYZE delivery_status_events`.execute(db);
  const [deleted, tEvents] = await time(() =>
    drain(() => deleteStatusEvents(db, cutoff, DEFAULT_CLEANUP_BATCH)),
  );
  console.log(
    `  DELETE delivery_status_events: ${deleted} rows in ${tEvents.toFixed(1)} s = ${Math.round(deleted / tEvents).toLocaleString()} rows/s`,
  );
} finally {
  await db.destroy();
  await admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await embedded?.stop();
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
}
