// Planner, database part: the real planDay over N subscribers in 24 zones with an instant scheduler (no
// AWS latency), against the same delivery rows written the simplest way — one INSERT … SELECT into the
// same table with the same indexes, constraints and triggers.
import { sql } from 'kysely';
import { measurePlanner, PLANNER_ZONES } from '../../scripts/measure-planner.js';
import type { Db } from '../../src/db/connection.js';
import { seededRandom } from '../../src/domain/slots.js';
import { type PlannerSettings, planDay } from '../../src/services/plan-day.js';
import type { DeliveryScheduler } from '../../src/services/ports.js';
import { BENCH_ZONES } from './database.js';
import type { BenchRow } from './report.js';

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

/**
 * The planner's own measurement (scripts/measure-planner.ts): rounds alternate the real planDay (plan
 * phase, then schedule bookkeeping with an instant scheduler) and the bare baselines on the same, emptied
 * tables of a scratch database; each side's best round counts, so a burst of load elsewhere on a shared
 * machine does not decide the ratio.
 */
export async function benchPlanner(adminUrl: string, subscribers: number, rounds = 3): Promise<BenchRow[]> {
  const m = await measurePlanner(adminUrl, { subscribers, zones: PLANNER_ZONES.length, rounds });
  return [
    {
      section: 'planner',
      metric: `plan ${subscribers.toLocaleString('en-US')} subscribers, ${m.zones} zones (DB part)`,
      value: m.plannerMs / 1000,
      unit: 's',
      baseline: {
        label: `bulk INSERT … SELECT of the same ${m.deliveries.toLocaleString('en-US')} rows`,
        value: m.baselineMs / 1000,
        unit: 's',
      },
      ratio: m.medianRatio,
      target: { text: '≤ 1.5× (median of rounds)', met: m.medianRatio <= 1.5 },
      note: `read subscribers, decide (quota, rotation, uniform draws within the pace), bulk insert; ${rounds} rounds alternating with the baseline: per-round ratios ${m.roundRatios.map((r) => `${r.toFixed(2)}×`).join(', ')} (best ${Math.min(...m.roundRatios).toFixed(2)}×, median ${m.medianRatio.toFixed(2)}×; value and baseline are each side's best); max ${m.maxPerSecond} per second, ${m.maxPerMinute} per minute; a re-run with nothing to do ${(m.rerunMs / 1000).toFixed(2)} s`,
    },
    {
      section: 'planner',
      metric: `record ${m.deliveries.toLocaleString('en-US')} schedules (DB part, instant scheduler)`,
      value: m.scheduleMs / 1000,
      unit: 's',
      baseline: { label: 'one UPDATE of the same rows', value: m.scheduleBaselineMs / 1000, unit: 's' },
      ratio: m.scheduleMedianRatio,
      target: { text: '≤ 2× (median of rounds)', met: m.scheduleMedianRatio <= 2 },
      note: `a second planDay with an instant scheduler (its plan phase finds nothing to do), outcomes stored 5,000 per UPDATE … FROM unnest so a timed-out run resumes; per-round ratios ${m.scheduleRoundRatios.map((r) => `${r.toFixed(2)}×`).join(', ')}; in AWS the Scheduler API quota paces this phase`,
    },
  ];
}
