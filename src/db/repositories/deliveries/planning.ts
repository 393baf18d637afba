// Reads and writes the daily planner needs: subscribers in fair-rotation order, capacity already taken,
// bulk delivery inserts, and per-delivery schedule progress. Bulk statements pass arrays (unnest) so a
// page of thousands of rows is one statement with a handful of parameters.
import { sql } from 'kysely';
import { logger } from '../../../logger.js';
import type { Db, DbOrTrx } from '../../connection.js';
import type { DeliveryState } from '../../schema.js';

export interface PlanningSubscriber {
  id: number;
  timeZone: string;
  /** Sort key: last quota skip date, or '-infinity' for never skipped. */
  skipKey: string;
  /** Local dates in the page's date range that already have a delivery (any state). */
  plannedDates: string[];
}

export interface SubscriberCursor {
  skipKey: string;
  id: number;
}

/**
 * Active, unpaused subscribers, most recently skipped for quota first (fair rotation), then by id;
 * `after` is the last row of the previous page. Each row carries the local dates between `dates.from` and
 * `dates.to` already planned for it, so one statement per page answers both questions.
 */
export async function pageSubscribersForPlanning(
  db: DbOrTrx,
  after: SubscriberCursor | null,
  limit: number,
  dates: { from: string; to: string },
): Promise<PlanningSubscriber[]> {
  const key = sql<string>`coalesce(s.last_quota_skip_date, '-infinity'::date)`;
  const { rows } = await sql<PlanningSubscriber>`
    SELECT s.id, s.time_zone AS "timeZone", ${key} AS "skipKey",
      ARRAY(
        SELECT d.local_date::text FROM deliveries d
        WHERE d.subscriber_id = s.id AND d.local_date BETWEEN ${dates.from}::date AND ${dates.to}::date
      ) AS "plannedDates"
    FROM subscribers s
    WHERE s.status = 'active' AND NOT s.paused
      ${after ? sql`AND (${key}, s.id) < (${after.skipKey}::date, ${after.id})` : sql``}
    ORDER BY ${key} DESC, s.id DESC
    LIMIT ${limit}`.execute(db);
  return rows;
}

/** Sends already planned (or under way) between two instants, grouped by whole UTC second. */
export async function plannedSendsPerSecond(
  db: DbOrTrx,
  from: Date,
  to: Date,
): Promise<{ second: number; count: number }[]> {
  const rows = await sql<{ second: number; count: number }>`
    SELECT floor(extract(epoch FROM planned_at))::bigint AS second, count(*)::int AS count
    FROM deliveries
    WHERE planned_at >= ${from} AND planned_at < ${to} AND state NOT IN ('skipped', 'cancelled')
    GROUP BY 1`.execute(db);
  return rows.rows;
}

export interface NewPlannedDelivery {
  subscriberId: number;
  localDate: string;
  timeZone: string;
  windowStart: Date;
  windowEnd: Date;
  /** Null for skipped rows. */
  plannedAt: Date | null;
  state: Extract<DeliveryState, 'planned' | 'skipped'>;
  reason: string | null;
}

/** Inserts rows; a (subscriber, local date) that already exists is left as it is. Returns inserted rows. */
export async function insertPlannedDeliveries(
  db: DbOrTrx,
  rows: NewPlannedDelivery[],
): Promise<{ subscriberId: number; localDate: string; state: string; reason: string | null }[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: NewPlannedDelivery) => T) => rows.map(f);
  const result = await sql<{
    subscriberId: number;
    localDate: string;
    state: string;
    reason: string | null;
  }>`
    INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at, state, reason)
    SELECT * FROM unnest(
      ${col((r) => r.subscriberId)}::int[],
      ${col((r) => r.localDate)}::date[],
      ${col((r) => r.timeZone)}::text[],
      ${col((r) => r.windowStart.toISOString())}::timestamptz[],
      ${col((r) => r.windowEnd.toISOString())}::timestamptz[],
      ${col((r) => r.plannedAt?.toISOString() ?? null)}::timestamptz[],
      ${col((r) => r.state)}::text[],
      ${col((r) => r.reason)}::text[]
    )
    ON CONFLICT (subscriber_id, local_date) DO NOTHING
    RETURNING subscriber_id AS "subscriberId", local_date AS "localDate", state, reason`.execute(db);
  return result.rows;
}

/** Remembers the latest date each subscriber was skipped for lack of quota (they go first next time). */
export async function recordQuotaSkips(
  db: DbOrTrx,
  skips: { subscriberId: number; localDate: string }[],
): Promise<void> {
  if (skips.length === 0) return;
  await sql`
    UPDATE subscribers s SET last_quota_skip_date = v.d
    FROM unnest(${skips.map((x) => x.subscriberId)}::int[], ${skips.map((x) => x.localDate)}::date[]) AS v(id, d)
    WHERE s.id = v.id AND (s.last_quota_skip_date IS NULL OR s.last_quota_skip_date < v.d)`.execute(db);
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
