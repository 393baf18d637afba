// Reads and writes the daily planner needs: subscribers in fair-rotation order, capacity already taken,
// bulk delivery inserts, and per-delivery schedule progress. Bulk statements pass arrays (unnest) so a
// page of thousands of rows is one statement with a handful of parameters.
import { sql } from 'kysely';
import type { DbOrTrx } from '../../connection.js';
import type { DeliveryState } from '../../schema.js';

export interface PlanningSubscriber {
  id: number;
  timeZone: string;
  /** Sort key: last quota skip date, or '-infinity' for never skipped. */
  skipKey: string;
}

export interface SubscriberCursor {
  skipKey: string;
  id: number;
}

/**
 * Active, unpaused subscribers, most recently skipped for quota first (fair rotation), then by id;
 * `after` is the last row of the previous page.
 */
export async function pageSubscribersForPlanning(
  db: DbOrTrx,
  after: SubscriberCursor | null,
  limit: number,
): Promise<PlanningSubscriber[]> {
  const key = sql<string>`coalesce(last_quota_skip_date, '-infinity'::date)`;
  let query = db
    .selectFrom('subscribers')
    .select(['id', 'time_zone as timeZone', key.as('skipKey')])
    .where('status', '=', 'active')
    .where('paused', '=', false);
  if (after) query = query.where(sql<boolean>`(${key}, id) < (${after.skipKey}::date, ${after.id})`);
  return query.orderBy(key, 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** 'subscriberId|localDate' for every delivery that already exists among these subscribers and dates. */
export async function existingDeliveryKeys(
  db: DbOrTrx,
  subscriberIds: number[],
  fromDate: string,
  toDate: string,
): Promise<Set<string>> {
  if (subscriberIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('deliveries')
    .select(['subscriber_id', 'local_date'])
    .where('subscriber_id', '=', sql<number>`any(${subscriberIds}::int[])`)
    .where('local_date', '>=', fromDate)
    .where('local_date', '<=', toDate)
    .execute();
  return new Set(rows.map((r) => `${r.subscriber_id}|${r.local_date}`));
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
): Promise<{ id: string; subscriberId: number; localDate: string; state: string; reason: string | null }[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: NewPlannedDelivery) => T) => rows.map(f);
  const result = await sql<{
    id: string;
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
    RETURNING id, subscriber_id AS "subscriberId", local_date AS "localDate", state, reason`.execute(db);
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

/**
 * Planned deliveries that never got a schedule and whose time has passed: recorded as such so an
 * operator sees them. Returns how many.
 */
export async function markMissedSchedules(db: DbOrTrx, notAfter: Date): Promise<number> {
  const message = 'planned time passed before a schedule was created';
  const result = await db
    .updateTable('deliveries')
    .set({ schedule_error: message })
    .where('state', '=', 'planned')
    .where('scheduled_at', 'is', null)
    .where('planned_at', '<=', notAfter)
    .where((eb) => eb.or([eb('schedule_error', 'is', null), eb('schedule_error', '<>', message)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

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
