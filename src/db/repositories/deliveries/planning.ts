// Reads and writes the daily planner needs: subscribers in fair-rotation order, capacity already taken,
// bulk delivery inserts, and per-delivery schedule progress. Bulk statements pass each column of thousands
// of rows as one parameter: integers, uuids and names as one comma-joined string that Postgres splits
// (string_to_array), which costs far less to build, send and parse than a quoted array literal.
import { sql } from 'kysely';
import { PLANNER_SKIP_REASONS, type PlannerSkipReason } from '../../../domain/delivery.js';
import { logger } from '../../../logger.js';
import type { Db, DbOrTrx } from '../../connection.js';

export interface PlanningSubscriber {
  id: number;
  timeZone: string;
  /** Rotation keys: last quota skip date ('-infinity' for never) and rank among that date's skips. */
  skipKey: string;
  skipRank: number;
  /** Of the dates asked about, those with no delivery yet for this subscriber, earliest first. */
  missingDates: string[];
}

export interface SubscriberCursor {
  skipKey: string;
  skipRank: number;
  id: number;
}

/** What earlier runs did with some dates: started (null) or finished (the `considered_before` instant). */
export interface DatesProgress {
  progress: Map<string, Date | null>;
  /**
   * An instant safely before this run's read of subscribers: ten minutes before the database's clock
   * now, so a change committed by any transaction that began before it is visible to the read.
   */
  seenBefore: Date;
}

export async function datesProgress(db: DbOrTrx, dates: readonly string[]): Promise<DatesProgress> {
  const { rows } = await sql<{ d: string | null; before: Date | null; seenBefore: Date }>`
    SELECT p.local_date::text AS d, p.considered_before AS before, now() - interval '10 minutes' AS "seenBefore"
    FROM (SELECT 1) AS one
    LEFT JOIN planned_dates p ON p.local_date = ANY(${[...dates]}::date[])`.execute(db);
  return {
    progress: new Map(rows.flatMap((r) => (r.d === null ? [] : [[r.d, r.before] as const]))),
    seenBefore: (rows[0] as { seenBefore: Date }).seenBefore,
  };
}

/** Marks dates as started, before any of their deliveries is written (so a run cut short is seen). */
export async function markDatesStarted(db: DbOrTrx, dates: readonly string[]): Promise<void> {
  if (dates.length === 0) return;
  await db
    .insertInto('planned_dates')
    .values(dates.map((d) => ({ local_date: d })))
    .onConflict((oc) => oc.column('local_date').doNothing())
    .execute();
}

/** Marks dates as finished by a run that saw every subscriber changed before `seenBefore`. */
export async function markDatesConsidered(
  db: DbOrTrx,
  dates: readonly string[],
  seenBefore: Date,
): Promise<void> {
  if (dates.length === 0) return;
  await sql`
    UPDATE planned_dates SET considered_before = ${seenBefore}
    WHERE local_date = ANY(${[...dates]}::date[])
      AND (considered_before IS NULL OR considered_before < ${seenBefore})`.execute(db);
}

/**
 * Active, unpaused subscribers that may lack a delivery on some of `dates`, in rotation order — most
 * recently skipped for lack of room first, in the order they were skipped — then by id; `after` is the
 * last row of the previous page. Each row says which of the dates it lacks. A date no run has started is
 * lacked by everyone; on a started date each subscriber is looked up in deliveries (one index probe), and
 * on a finished one only those changed since the run that finished it (the others had their chance).
 */
export async function pageSubscribersForPlanning(
  db: DbOrTrx,
  after: SubscriberCursor | null,
  limit: number,
  dates: readonly string[],
  progress: ReadonlyMap<string, Date | null>,
): Promise<PlanningSubscriber[]> {
  const key = sql<string>`coalesce(s.last_quota_skip_date, '-infinity'::date)`;
  const sorted = [...dates].sort();
  const look = sorted.filter((d) => progress.has(d));
  const first = look[0];
  // Started dates as bits (bit n = first + n days): the dates a subscriber lacks come back as one integer.
  const bit = (d: string) => Math.round((Date.parse(d) - Date.parse(first ?? d)) / 86_400_000);
  const lookup =
    first === undefined
      ? sql`CROSS JOIN LATERAL (SELECT 0 AS lacks) AS e`
      : sql`CROSS JOIN LATERAL (
          SELECT coalesce(bit_or(1 << (d.date - ${first}::date)), 0) AS lacks
          FROM unnest(${look}::date[], ${look.map((d) => progress.get(d)?.toISOString() ?? null)}::timestamptz[]) AS d(date, since)
          WHERE (d.since IS NULL OR s.updated_at >= d.since)
            AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.subscriber_id = s.id AND x.local_date = d.date)
        ) AS e`;
  // While some date is new, every subscriber lacks it; otherwise only those lacking a started one.
  const lacking = sorted.length > look.length ? sql`` : sql`AND e.lacks <> 0`;
  const { rows } = await sql<Omit<PlanningSubscriber, 'missingDates'> & { lacks: number }>`
    SELECT s.id, s.time_zone AS "timeZone", ${key}::text AS "skipKey", s.quota_skip_rank AS "skipRank", e.lacks
    FROM subscribers s ${lookup}
    WHERE s.status = 'active' AND NOT s.paused ${lacking}
      ${after ? sql`AND (${key}, s.quota_skip_rank, s.id) < (${after.skipKey}::date, ${after.skipRank}, ${after.id})` : sql``}
    ORDER BY ${key} DESC, s.quota_skip_rank DESC, s.id DESC
    LIMIT ${limit}`.execute(db);
  return rows.map(({ lacks, ...s }) => ({
    ...s,
    missingDates: sorted.filter((d) => !progress.has(d) || (lacks & (1 << bit(d))) !== 0),
  }));
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

/**
 * Decided deliveries as parallel columns (one entry per delivery): planned at a second (`at`, Unix
 * seconds, with a null reason) or skipped with a reason (and a null `at`).
 */
export interface DecidedRows {
  subscriberId: number[];
  /** Index into the windows passed alongside. */
  window: number[];
  at: (number | null)[];
  reason: (PlannerSkipReason | null)[];
}

/** Integers as one parameter: '1,2,,4' (an empty element is NULL). */
const joined = (xs: readonly (number | string | null)[]) => xs.map((x) => x ?? '').join(',');

/**
 * Inserts decided deliveries (a (subscriber, local date) that already exists is left as it is). Rows
 * carry only integers and a window index; the windows travel once. Returns how many rows were inserted,
 * by state and reason.
 */
export async function insertDecisions(
  db: DbOrTrx,
  windows: readonly PlanningWindow[],
  rows: DecidedRows,
): Promise<{ state: string; reason: string | null; count: number }[]> {
  if (rows.subscriberId.length === 0) return [];
  const { rows: counts } = await sql<{ state: string; reason: string | null; count: number }>`
    WITH w AS (
      SELECT * FROM unnest(
        ${windows.map((x) => x.localDate)}::date[],
        ${windows.map((x) => x.timeZone)}::text[],
        ${windows.map((x) => x.start.toISOString())}::timestamptz[],
        ${windows.map((x) => x.end.toISOString())}::timestamptz[]
      ) WITH ORDINALITY AS w(local_date, time_zone, window_start, window_end, i1)
    ), ins AS (
      INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at, state, reason)
      SELECT r.subscriber_id, w.local_date, w.time_zone, w.window_start, w.window_end, to_timestamp(r.at),
        CASE WHEN r.at IS NULL THEN 'skipped' ELSE 'planned' END, (${PLANNER_SKIP_REASONS}::text[])[r.reason]
      FROM unnest(
        string_to_array(${joined(rows.subscriberId)}, ',')::int[],
        string_to_array(${joined(rows.window)}, ',')::int[],
        string_to_array(${joined(rows.at)}, ',', '')::bigint[],
        string_to_array(${joined(rows.reason.map((r) => (r === null ? null : PLANNER_SKIP_REASONS.indexOf(r) + 1)))}, ',', '')::int[]
      ) AS r(subscriber_id, i, at, reason)
      JOIN w ON w.i1 = r.i + 1
      -- In key order, as the unique index lies: far fewer index pages touched per chunk.
      ORDER BY r.subscriber_id, w.local_date
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
const PLANNER_LOCK_KEY = '5786071425672632625';

export type ScheduleOutcome = { id: string; scheduleName: string } | { id: string; error: string };

/**
 * Stores each delivery's schedule result: a name and time on success, the error text otherwise. Ids and
 * names (letters, digits, '-', '_' and '.', as Scheduler allows) travel as comma-joined strings; error
 * texts, few and free-form, as an array.
 */
export async function recordScheduleOutcomes(db: Db, outcomes: ScheduleOutcome[]): Promise<void> {
  const created = outcomes.filter((o): o is { id: string; scheduleName: string } => 'scheduleName' in o);
  const failed = outcomes.filter((o): o is { id: string; error: string } => 'error' in o);
  if (created.length > 0) {
    if (created.some((o) => !SCHEDULE_NAME.test(o.scheduleName))) {
      throw new RangeError('schedule names must be letters, digits, "-", "_" or "."');
    }
    // One primary-key probe per row, never a join over the whole table: with a page of thousands of ids
    // the planner would otherwise hash the table (all of it, 90 days of deliveries) for every page.
    await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_hashjoin = off`.execute(trx);
      await sql`SET LOCAL enable_mergejoin = off`.execute(trx);
      await sql`
        UPDATE deliveries d SET schedule_name = v.name, scheduled_at = now(), schedule_error = NULL
        FROM unnest(
          string_to_array(${joined(created.map((o) => o.id))}, ',')::uuid[],
          string_to_array(${joined(created.map((o) => o.scheduleName))}, ',')
        ) AS v(id, name)
        WHERE d.id = v.id`.execute(trx);
    });
  }
  if (failed.length > 0) {
    await sql`
      UPDATE deliveries d SET schedule_error = v.error
      FROM unnest(${failed.map((o) => o.id)}::uuid[], ${failed.map((o) => o.error.slice(0, 500))}::text[]) AS v(id, error)
      WHERE d.id = v.id`.execute(db);
  }
}
const SCHEDULE_NAME = /^[0-9A-Za-z._-]{1,64}$/;

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
