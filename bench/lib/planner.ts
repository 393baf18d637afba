// Planner, database part: the real planDay over N subscribers in 24 zones with an instant scheduler (no
// AWS latency), against the same delivery rows written the simplest way — one INSERT … SELECT into the
// same table with the same indexes, constraints and triggers.
import { sql } from 'kysely';
import type { Db } from '../../src/db/connection.js';
import { seededRandom } from '../../src/domain/slots.js';
import { type PlannerSettings, planDay } from '../../src/services/plan-day.js';
import type { DeliveryScheduler } from '../../src/services/ports.js';
import { BENCH_ZONES, withScratchDatabase } from './database.js';
import type { BenchRow } from './report.js';

/** Capacity high enough that every subscriber is planned: this measures database work, not quota. */
export const THROUGHPUT_SETTINGS: PlannerSettings = {
  SEND_WINDOW_START: 12 * 60,
  SEND_WINDOW_END: 17 * 60,
  PLANNER_HORIZON_HOURS: 26,
  TWILIO_MESSAGES_PER_DAY: 10_000_000,
  TWILIO_MESSAGES_PER_SECOND: 10,
  OPENAI_REQUESTS_PER_MIN: 100_000,
  OPENAI_TOKENS_PER_MIN: 100_000_000,
  OPENAI_EXPECTED_TOKENS_PER_MESSAGE: 250,
};

/** A fixed instant, so the run plans the same windows every time (a Saturday morning UTC). */
export const PLAN_AT = new Date('2026-03-07T10:00:00Z');

export async function seedSubscribers(db: Db, count: number): Promise<void> {
  await sql`
    INSERT INTO subscribers (phone, status, time_zone)
    SELECT '+1415' || lpad(g::text, 7, '0'), 'active', (${[...BENCH_ZONES]}::text[])[1 + (g % ${BENCH_ZONES.length})]
    FROM generate_series(1, ${count}) AS g`.execute(db);
  await sql`ANALYZE subscribers`.execute(db);
}

export interface PlannerDbRun {
  ms: number;
  /** Where the time went, for the note (e.g. plan phase vs schedule bookkeeping). */
  phases: Record<string, number>;
  planned: number;
  scheduled: number;
}

/**
 * THE function to swap when the planner exports its own measurement (scripts/measure-planner.ts or
 * bench/lib/planner-bench.ts): everything the planner does in the database for one daily run, with a
 * scheduler that answers at once. Two calls, as scripts/measure-planner.ts does: the first with a deadline
 * already past runs the plan phase (read, slot, bulk insert) and stops before any schedule call; the
 * second records a schedule for each planned delivery.
 */
export async function runPlannerDbPart(db: Db, settings: PlannerSettings, now: Date): Promise<PlannerDbRun> {
  const instant: DeliveryScheduler = {
    schedule: async (r) => `delivery-${r.deliveryId}`,
    cancel: async () => {},
  };
  let t = performance.now();
  const plan = await planDay(
    { db, scheduler: instant, settings, random: seededRandom(1), deadline: new Date(0) },
    now,
  );
  const planMs = performance.now() - t;
  t = performance.now();
  const scheduled = await planDay({ db, scheduler: instant, settings, random: seededRandom(2) }, now);
  const scheduleMs = performance.now() - t;
  return {
    ms: planMs + scheduleMs,
    phases: { plan: planMs, scheduleBookkeeping: scheduleMs },
    planned: plan.planned,
    scheduled: scheduled.scheduled,
  };
}

const COLUMNS = sql.raw(
  'subscriber_id, local_date, time_zone, window_start, window_end, planned_at, state, reason, schedule_name, scheduled_at',
);

/** Writes the rows the planner produced again, in one INSERT … SELECT, into the emptied table. */
async function bareInsertSelect(db: Db): Promise<{ ms: number; rows: number }> {
  await sql`CREATE TABLE bench_planned_copy AS SELECT ${COLUMNS} FROM deliveries`.execute(db);
  await sql`TRUNCATE deliveries CASCADE`.execute(db);
  await sql`VACUUM ANALYZE deliveries`.execute(db);
  const t = performance.now();
  const result =
    await sql`INSERT INTO deliveries (${COLUMNS}) SELECT ${COLUMNS} FROM bench_planned_copy`.execute(db);
  const ms = performance.now() - t;
  await sql`DROP TABLE bench_planned_copy`.execute(db);
  return { ms, rows: Number(result.numAffectedRows ?? 0) };
}

/** The bookkeeping baseline: one UPDATE recording a schedule for every delivery. */
async function bareScheduleUpdate(db: Db): Promise<number> {
  await sql`UPDATE deliveries SET scheduled_at = NULL, schedule_name = NULL`.execute(db);
  await sql`VACUUM ANALYZE deliveries`.execute(db);
  const t = performance.now();
  await sql`UPDATE deliveries SET scheduled_at = now(), schedule_name = 'delivery-' || id WHERE state = 'planned'`.execute(
    db,
  );
  return performance.now() - t;
}

export async function benchPlanner(adminUrl: string, subscribers: number): Promise<BenchRow[]> {
  return withScratchDatabase(adminUrl, 'planner', async ({ db }) => {
    await seedSubscribers(db, subscribers);
    const run = await runPlannerDbPart(db, THROUGHPUT_SETTINGS, PLAN_AT);
    const { rows } = await sql<{ n: number; per_second: number }>`
      SELECT count(*)::int AS n,
        coalesce((SELECT max(c) FROM (SELECT count(*) c FROM deliveries WHERE planned_at IS NOT NULL
          GROUP BY date_trunc('second', planned_at)) s), 0)::int AS per_second
      FROM deliveries`.execute(db);
    const written = rows[0]?.n ?? 0;
    const bare = await bareInsertSelect(db);
    if (bare.rows !== written) throw new Error(`baseline wrote ${bare.rows} rows, the planner ${written}`);
    const bareUpdateMs = await bareScheduleUpdate(db);
    const planMs = run.phases.plan ?? run.ms;
    const bookkeepingMs = run.phases.scheduleBookkeeping ?? 0;
    const ratio = planMs / bare.ms;
    return [
      {
        section: 'planner',
        metric: `plan ${subscribers.toLocaleString('en-US')} subscribers, ${BENCH_ZONES.length} zones (DB part)`,
        value: planMs / 1000,
        unit: 's',
        baseline: {
          label: `INSERT … SELECT of the same ${written.toLocaleString('en-US')} rows`,
          value: bare.ms / 1000,
          unit: 's',
        },
        ratio,
        target: { text: '≤ 2×', met: ratio <= 2 },
        note: `read subscribers, assign slots, bulk insert; ${run.planned} planned, max ${rows[0]?.per_second} per second`,
      },
      {
        section: 'planner',
        metric: `record ${run.scheduled.toLocaleString('en-US')} schedules (DB part, instant scheduler)`,
        value: bookkeepingMs / 1000,
        unit: 's',
        baseline: { label: 'one UPDATE of the same rows', value: bareUpdateMs / 1000, unit: 's' },
        ratio: bookkeepingMs / bareUpdateMs,
        note: 'per-chunk UPDATE … FROM unnest so a timed-out run resumes; in AWS the Scheduler API quota paces this phase',
      },
    ];
  });
}
