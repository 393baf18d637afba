// Daily planner runs over simulated days against a real database: the real planDay at a fixed UTC time
// each day, an instant scheduler, and every delivery remembered with the run that created it (so callers
// can keep only windows planned whole, before they opened). Shared by the fairness tests, the bench and
// scripts/measure-fairness.ts.
import { sql } from 'kysely';
import type { Db } from '../../src/db/connection.js';
import { seededRandom } from '../../src/domain/slots.js';
import { type PlannerSettings, type PlanSummary, planDay } from '../../src/services/plan-day.js';
import type { DeliveryScheduler } from '../../src/services/ports.js';

export const DAY_MS = 86_400_000;

export interface SimulatedDelivery {
  id: string;
  subscriberId: number;
  localDate: string;
  timeZone: string;
  state: string;
  reason: string | null;
  plannedAt: Date | null;
  windowStart: Date;
  windowEnd: Date;
  /** The run (its `now`) that created the row. */
  createdBy: Date;
}

const instantScheduler: DeliveryScheduler = {
  schedule: async (r) => `delivery-${r.deliveryId}`,
  cancel: async () => {},
};

/** `perZone` active subscribers in each zone; ids are assigned zone by zone, round robin. */
export async function addSubscribersInZones(db: Db, zones: readonly string[], perZone: number) {
  await sql`
    INSERT INTO subscribers (phone, status, time_zone)
    SELECT '+1415' || lpad(g::text, 7, '0'), 'active', (${[...zones]}::text[])[1 + (g % ${zones.length})]
    FROM generate_series(1, ${zones.length * perZone}) AS g`.execute(db);
}

/** Runs planDay once a day at `firstRun` + n days; returns every delivery and each run's summary. */
export async function simulateDailyRuns(
  db: Db,
  settings: PlannerSettings,
  options: { firstRun: Date; days: number; seed: number },
): Promise<{ deliveries: SimulatedDelivery[]; summaries: PlanSummary[] }> {
  const createdBy = new Map<string, Date>();
  const summaries: PlanSummary[] = [];
  for (let day = 0; day < options.days; day++) {
    const now = new Date(options.firstRun.getTime() + day * DAY_MS);
    summaries.push(
      await planDay(
        { db, scheduler: instantScheduler, settings, random: seededRandom(options.seed + day) },
        now,
      ),
    );
    // Only the ids after each run (which run created a row); the rows themselves once, at the end.
    for (const { id } of await db.selectFrom('deliveries').select('id').execute())
      if (!createdBy.has(id)) createdBy.set(id, now);
  }
  const rows = await db
    .selectFrom('deliveries')
    .select([
      'id',
      'subscriber_id as subscriberId',
      'local_date as localDate',
      'time_zone as timeZone',
      'state',
      'reason',
      'planned_at as plannedAt',
      'window_start as windowStart',
      'window_end as windowEnd',
    ])
    .execute();
  return {
    deliveries: rows.map((r) => ({ ...r, createdBy: createdBy.get(r.id) as Date })),
    summaries,
  };
}

/** Skipped for lack of room (quota or pace), as opposed to a bad zone or a missed time. */
export const isRotationSkip = (d: SimulatedDelivery) =>
  d.state === 'skipped' && (d.reason === 'quota' || d.reason === 'capacity');
