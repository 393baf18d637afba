// Reads and writes the daily planner needs: subscribers in fair-rotation order, capacity already taken,
// bulk delivery inserts, and per-delivery schedule progress. Bulk statements pass arrays (unnest) so a
// page of thousands of rows is one statement with a handful of parameters.
import { sql } from 'kysely';
import { logger } from '../../../logger.js';
import type { Db, DbOrTrx } from '../../connection.js';

export interface PlanningSubscriber {
  id: number;
  timeZone: string;
  /** Rotation keys: last quota skip date ('-infinity' for never) and rank among that date's skips. */
  skipKey: string;
  skipRank: number;
  /** Local dates in the page's date range that already have a delivery (any state). */
  plannedDates: string[];
}

export interface SubscriberCursor {
  skipKey: string;
  skipRank: number;
  id: number;
}

/**
 * Active, unpaused subscribers in rotation order — most recently skipped for lack of room first, in the
 * order they were skipped — then by id; `after` is the last row of the previous page. Each row carries the
 * local dates between `dates.from` and `dates.to` already planned for it, so one statement per page
 * answers both questions.
 */
export async function pageSubscribersForPlanning(
  db: DbOrTrx,
  after: SubscriberCursor | null,
  limit: number,
  dates: { from: string; to: string },
): Promise<PlanningSubscriber[]> {
  const key = sql<string>`coalesce(s.last_quota_skip_date, '-infinity'::date)`;
  const { rows } = await sql<PlanningSubscriber>`
    SELECT s.id, s.time_zone AS "timeZone", ${key}::text AS "skipKey", s.quota_skip_rank AS "skipRank",
      ARRAY(
        SELECT d.local_date::text FROM deliveries d
        WHERE d.subscriber_id = s.id AND d.local_date BETWEEN ${dates.from}::date AND ${dates.to}::date
      ) AS "plannedDates"
    FROM subscribers s
    WHERE s.status = 'active' AND NOT s.paused
      ${after ? sql`AND (${key}, s.quota_skip_rank, s.id) < (${after.skipKey}::date, ${after.skipRank}, ${after.id})` : sql``}
    ORDER BY ${key} DESC, s.quota_skip_rank DESC, s.id DESC
    LIMIT ${limit}`.execute(db);
  return rows;
}

/**
 * Moves subscribers skipped for lack of room to the front of the rotation: their skip date and their rank
 * among that date's skips (higher = served first), unless they already hold a later place.
 */
export async function recordRotationSkips(
  db: DbOrTrx,
  skips: readonly { subscriberId: number; localDate: string; rank: number }[],
): Promise<void> {
  if (skips.length === 0) return;
  await sql`
    UPDATE subscribers s SET last_quota_skip_date = v.d, quota_skip_rank = v.rank
    FROM unnest(
      ${skips.map((x) => x.subscriberId)}::int[],
      ${skips.map((x) => x.localDate)}::date[],
      ${skips.map((x) => x.rank)}::int[]
    ) AS v(id, d, rank)
    WHERE s.id = v.id
      AND (coalesce(s.last_quota_skip_date, '-infinity'::date), s.quota_skip_rank) < (v.d, v.rank)`.execute(
    db,
  );
}

/**
 * What is already planned between two instants: sends per whole UTC second (the pace ledger) and, per
 * local date, the deliveries that use that date's quota (planned or under way; skipped, cancelled and
 * failed ones do not).
 */
export async function plannedLoad(
  db: DbOrTrx,
  from: Date,
  to: Date,
): Promise<{ second: number; localDate: string; sends: number; quotaUsed: number }[]> {
  const { rows } = await sql<{ second: string; localDate: string; sends: number; quotaUsed: number }>`
    SELECT floor(extract(epoch FROM planned_at))::bigint AS second, local_date::text AS "localDate",
      count(*)::int AS sends, count(*) FILTER (WHERE state <> 'failed')::int AS "quotaUsed"
    FROM deliveries
    WHERE planned_at >= ${from} AND planned_at < ${to} AND state NOT IN ('skipped', 'cancelled')
    GROUP BY 1, 2`.execute(db);
  return rows.map((r) => ({ ...r, second: Number(r.second) }));
}

/** One zone's window on one local date, shared by every delivery planned in it. */
export interface PlanningWindow {
  localDate: string;
  /** The zone as stored on the subscriber (for a bad zone, the bad text itself). */
  timeZone: string;
  start: Date;
  end: Date;
}

/** A decided delivery: planned at a second (`at`, Unix seconds) or skipped with a reason. */
export type Decided =
  | { subscriberId: number; window: number; at: number }
  | { subscriberId: number; window: number; reason: string };

/**
 * Inserts decided deliveries (a (subscriber, local date) that already exists is left as it is). Rows
 * carry only integers and a window index; the windows travel once. Returns how many rows were inserted,
 * by state and reason.
 */
export async function insertDecisions(
  db: DbOrTrx,
  windows: readonly PlanningWindow[],
  rows: readonly Decided[],
): Promise<{ state: string; reason: string | null; count: number }[]> {
  if (rows.length === 0) return [];
  const { rows: counts } = await sql<{ state: string; reason: string | null; count: number }>`
    WITH w AS (
      SELECT * FROM unnest(
        ${windows.map((x) => x.localDate)}::date[],
        ${windows.map((x) => x.timeZone)}::text[],
        ${windows.map((x) => x.start.toISOString())}::timestamptz[],
        ${windows.map((x) => x.end.toISOString())}::timestamptz[]
      ) WITH ORDINALITY AS w(local_date, time_zone, window_start, window_end, i)
    ), ins AS (
      INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at, state, reason)
      SELECT r.subscriber_id, w.local_date, w.time_zone, w.window_start, w.window_end, to_timestamp(r.at),
        CASE WHEN r.at IS NULL THEN 'skipped' ELSE 'planned' END, r.reason
      FROM unnest(
        ${rows.map((r) => r.subscriberId)}::int[],
        ${rows.map((r) => r.window + 1)}::int[],
        ${rows.map((r) => ('at' in r ? r.at : null))}::bigint[],
        ${rows.map((r) => ('reason' in r ? r.reason : null))}::text[]
      ) AS r(subscriber_id, i, at, reason)
      JOIN w USING (i)
      ON CONFLICT (subscriber_id, local_date) DO NOTHING
      RETURNING state, reason
    )
    SELECT state, reason, count(*)::int AS count FROM ins GROUP BY state, reason`.execute(db);
  return counts;
}

export interface UnscheduledDelivery {
  id: string;
  plannedAt: Date;
  windowEnd: Date;
}

/** Planned deliveries without a schedule yet whose time is after `notBefore`, in (planned_at, id) order. */
export async function pageUnscheduledDeliveries(
  db: DbOrTrx,
  notBefore: Date,
  after: { plannedAt: Date; id: string } | null,
  limit: number,
): Promise<UnscheduledDelivery[]> {
  let query = db
    .selectFrom('deliveries')
    .select(['id', 'planned_at as plannedAt', 'window_end as windowEnd'])
    .where('state', '=', 'planned')
    .where('scheduled_at', 'is', null)
    .where('planned_at', '>', notBefore);
  if (after) query = query.where(sql<boolean>`(planned_at, id) > (${after.plannedAt}, ${after.id}::uuid)`);
  const rows = await query.orderBy('planned_at').orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: r.id, plannedAt: r.plannedAt as Date, windowEnd: r.windowEnd }));
}

/** Planned deliveries without a schedule yet whose time is after `notBefore` (what the run has left). */
export async function countUnscheduledDeliveries(db: DbOrTrx, notBefore: Date): Promise<number> {
  const row = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'planned')
    .where('scheduled_at', 'is', null)
    .where('planned_at', '>', notBefore)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface MissedDelivery {
  id: string;
  plannedAt: Date;
  windowStart: Date;
  windowEnd: Date;
}

/** Planned deliveries that never got a schedule and whose time is at or before `notAfter`. */
export async function missedDeliveries(db: DbOrTrx, notAfter: Date): Promise<MissedDelivery[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['id', 'planned_at as plannedAt', 'window_start as windowStart', 'window_end as windowEnd'])
    .where('state', '=', 'planned')
    .where('scheduled_at', 'is', null)
    .where('planned_at', '<=', notAfter)
    .orderBy('planned_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ ...r, plannedAt: r.plannedAt as Date }));
}

export type MissedOutcome = { id: string; plannedAt: Date } | { id: string; skipReason: string };

/**
 * Moves missed deliveries to their new second, or marks them skipped with a reason. Only rows still
 * planned and unscheduled change (a sender that claimed one meanwhile wins). Returns the rows changed.
 */
export async function resolveMissedDeliveries(
  db: DbOrTrx,
  outcomes: MissedOutcome[],
): Promise<{ id: string; state: string }[]> {
  if (outcomes.length === 0) return [];
  const at = outcomes.map((o) => ('plannedAt' in o ? o.plannedAt.toISOString() : null));
  const reasons = outcomes.map((o) => ('skipReason' in o ? o.skipReason.slice(0, 200) : null));
  const result = await sql<{ id: string; state: string }>`
    UPDATE deliveries d SET
      planned_at = coalesce(v.at, d.planned_at),
      state = CASE WHEN v.at IS NULL THEN 'skipped' ELSE 'planned' END,
      reason = v.reason,
      schedule_error = NULL
    FROM unnest(${outcomes.map((o) => o.id)}::uuid[], ${at}::timestamptz[], ${reasons}::text[]) AS v(id, at, reason)
    WHERE d.id = v.id AND d.state = 'planned' AND d.scheduled_at IS NULL
    RETURNING d.id, d.state`.execute(db);
  return result.rows;
}

/**
 * Holds the planner's advisory lock for the duration of `fn`, on one connection that `fn` gets to use
 * for all its work (so the lock never needs a second pool slot). A session lock, not a transaction one:
 * a run commits page by page so a run cut short keeps its progress. If the process dies, Postgres drops
 * the session and the lock with it. Returns `{ acquired: false }` at once when another session holds it.
 */
export async function withPlannerLock<T>(
  db: Db,
  fn: (conn: Db) => Promise<T>,
): Promise<{ acquired: true; value: T } | { acquired: false }> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`
      SELECT pg_try_advisory_lock(${PLANNER_LOCK_KEY}::bigint) AS locked`.execute(conn);
    if (!rows[0]?.locked) return { acquired: false } as const;
    try {
      return { acquired: true, value: await fn(conn) } as const;
    } finally {
      // A failed unlock means the connection is broken, and a broken session holds no lock: log, go on
      // (throwing here would hide the error that ended the run, if any).
      await sql`SELECT pg_advisory_unlock(${PLANNER_LOCK_KEY}::bigint)`
        .execute(conn)
        .catch((error: unknown) => logger.warn('could not release the planner lock', { error }));
    }
  });
}

/** The planner's advisory lock key (any fixed bigint no other code uses; this one spells "PLANDAY1"). */
export const PLANNER_LOCK_KEY = '5786071425672632625';

export type ScheduleOutcome = { id: string; scheduleName: string } | { id: string; error: string };

/** Stores each delivery's schedule result: a name and time on success, the error text otherwise. */
export async function recordScheduleOutcomes(db: DbOrTrx, outcomes: ScheduleOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const names = outcomes.map((o) => ('scheduleName' in o ? o.scheduleName : null));
  const errors = outcomes.map((o) => ('error' in o ? o.error.slice(0, 500) : null));
  await sql`
    UPDATE deliveries d SET
      schedule_name = coalesce(v.name, d.schedule_name),
      scheduled_at = CASE WHEN v.name IS NOT NULL THEN now() ELSE d.scheduled_at END,
      schedule_error = v.error
    FROM unnest(${outcomes.map((o) => o.id)}::uuid[], ${names}::text[], ${errors}::text[]) AS v(id, name, error)
    WHERE d.id = v.id`.execute(db);
}

/** Planned deliveries due before `until` whose window is still open (the in-process scheduler's work). */
export async function dueDeliveries(
  db: DbOrTrx,
  now: Date,
  until: Date,
): Promise<{ id: string; plannedAt: Date }[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['id', 'planned_at as plannedAt'])
    .where('state', '=', 'planned')
    .where('planned_at', '<', until)
    .where('window_end', '>', now)
    .orderBy('planned_at')
    .execute();
  return rows.map((r) => ({ id: r.id, plannedAt: r.plannedAt as Date }));
}
