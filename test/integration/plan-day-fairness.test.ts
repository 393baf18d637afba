// Quota fairness and uniform send times (issue #16 §1) as properties of the real planDay on real Postgres,
// over daily runs in many zones: windows that cross UTC midnight (Pago Pago, Honolulu, Anchorage,
// Los Angeles) or sit just after it (Noumea, Tarawa, Kiritimati), and half-hour and 45-minute offsets
// (Kolkata, Kathmandu, Eucla, Chatham, St John's, Marquesas).
import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { type PlannerSettings, SEND_TAIL_MARGIN_MS } from '../../src/services/plan-day.js';
import { useTestDb } from '../support/db.js';
import {
  addSubscribersInZones,
  DAY_MS,
  isRotationSkip,
  type SimulatedDelivery,
  simulateDailyRuns,
} from '../support/planner-simulation.js';
import { localHourUniformity } from '../support/uniformity.js';

const { db } = useTestDb();

const ZONES = [
  'Pacific/Pago_Pago',
  'Pacific/Honolulu',
  'America/Anchorage',
  'America/Los_Angeles',
  'Pacific/Noumea',
  'Pacific/Tarawa',
  'Pacific/Kiritimati',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Australia/Eucla',
  'Pacific/Chatham',
  'America/St_Johns',
  'Pacific/Marquesas',
  'America/New_York',
  'Europe/London',
  'Asia/Tokyo',
] as const;

const WINDOW = { startMinute: 12 * 60, endMinute: 17 * 60 };
/** A plan run must leave this much before a window opens for the window to count as planned whole. */
const PLAN_LEAD_MS = 5 * 60_000;

const ample: PlannerSettings = {
  SEND_WINDOW_START: WINDOW.startMinute,
  SEND_WINDOW_END: WINDOW.endMinute,
  PLANNER_HORIZON_HOURS: 26,
  TWILIO_MESSAGES_PER_DAY: 1_000_000,
  TWILIO_MESSAGES_PER_SECOND: 10,
  OPENAI_REQUESTS_PER_MIN: 10_000,
  OPENAI_TOKENS_PER_MIN: 10_000_000,
  OPENAI_EXPECTED_TOKENS_PER_MESSAGE: 250,
};

/** A daily run time and the first day (any day of 2026, DST changes included). */
const runSchedule = fc.record({
  dayOfYear: fc.integer({ min: 0, max: 364 }),
  minuteOfDay: fc.integer({ min: 0, max: 24 * 60 - 1 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});
const firstRunOf = (s: { dayOfYear: number; minuteOfDay: number }) =>
  new Date(Date.UTC(2026, 0, 1) + s.dayOfYear * DAY_MS + s.minuteOfDay * 60_000);

/** Zone sets always holding windows across UTC midnight and a non-whole-hour offset, plus others. */
const zoneSet = fc
  .tuple(
    fc.constantFrom('Pacific/Pago_Pago', 'Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles'),
    fc.constantFrom('Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Eucla', 'Pacific/Chatham'),
    fc.shuffledSubarray([...ZONES], { minLength: 3, maxLength: 10 }),
  )
  .map(([crossing, offset, rest]) => [...new Set([crossing, offset, ...rest])]);

/** Local dates on which every subscriber was considered (has a row): the dates the quota fully decided. */
function fullyDecidedDates(deliveries: SimulatedDelivery[], subscribers: number): string[] {
  const rows = new Map<string, number>();
  for (const d of deliveries) rows.set(d.localDate, (rows.get(d.localDate) ?? 0) + 1);
  return [...rows]
    .filter(([, n]) => n === subscribers)
    .map(([date]) => date)
    .sort();
}

/** Planned deliveries whose whole window was ahead when they were planned, grouped by zone. */
function wholeWindowTimesByZone(deliveries: SimulatedDelivery[]): Map<string, Date[]> {
  const byZone = new Map<string, Date[]>();
  for (const d of deliveries) {
    if (d.state !== 'planned' || !d.plannedAt) continue;
    if (d.windowStart.getTime() < d.createdBy.getTime() + PLAN_LEAD_MS) continue;
    byZone.set(d.timeZone, [...(byZone.get(d.timeZone) ?? []), d.plannedAt]);
  }
  return byZone;
}

/**
 * From empty tables: `perZone` subscribers in each zone, a quota of `share` of them (at least one), and
 * `days` daily runs of planDay from the schedule's first run.
 */
async function runUnderQuota(
  zones: string[],
  perZone: number,
  share: number,
  schedule: { dayOfYear: number; minuteOfDay: number; seed: number },
  days: number,
) {
  await sql`TRUNCATE subscribers, deliveries RESTART IDENTITY CASCADE`.execute(db());
  await addSubscribersInZones(db(), zones, perZone);
  const subscribers = zones.length * perZone;
  const quota = Math.max(1, Math.floor(subscribers * share));
  const { deliveries } = await simulateDailyRuns(
    db(),
    { ...ample, TWILIO_MESSAGES_PER_DAY: quota },
    { firstRun: firstRunOf(schedule), days, seed: schedule.seed },
  );
  return { subscribers, quota, deliveries };
}

describe('planDay under quota: whether is fair, when is uniform', () => {
  it('plans exactly TWILIO_MESSAGES_PER_DAY per quota day (local date) while demand exceeds it', async () => {
    await fc.assert(
      fc.asyncProperty(
        zoneSet,
        fc.integer({ min: 3, max: 8 }),
        fc.double({ min: 0.3, max: 0.9, noNaN: true }),
        runSchedule,
        async (zones, perZone, share, schedule) => {
          const { subscribers, quota, deliveries } = await runUnderQuota(zones, perZone, share, schedule, 5);
          const dates = fullyDecidedDates(deliveries, subscribers);
          expect(dates.length).toBeGreaterThanOrEqual(3);
          for (const date of dates) {
            const planned = deliveries.filter((d) => d.localDate === date && d.state === 'planned').length;
            expect({ date, planned }).toEqual({ date, planned: quota });
          }
        },
      ),
      { numRuns: 8 },
    );
  }, 300_000);

  it('rotates across all zones: nobody is skipped twice before every other subscriber was skipped once', async () => {
    await fc.assert(
      fc.asyncProperty(
        zoneSet,
        fc.integer({ min: 3, max: 6 }),
        fc.double({ min: 0.4, max: 0.9, noNaN: true }),
        runSchedule,
        async (zones, perZone, share, schedule) => {
          const { subscribers, deliveries } = await runUnderQuota(zones, perZone, share, schedule, 8);
          // Skip counts after each local date, in date order, over every subscriber (a date on which a
          // subscriber had no row — its window was over before the first run — is not a skip).
          const skips = new Map<number, number>();
          for (let id = 1; id <= subscribers; id++) skips.set(id, 0);
          const dates = [...new Set(deliveries.map((d) => d.localDate))].sort();
          for (const date of dates) {
            for (const d of deliveries) {
              if (d.localDate === date && isRotationSkip(d))
                skips.set(d.subscriberId, (skips.get(d.subscriberId) ?? 0) + 1);
            }
            const counts = [...skips.values()];
            const spread = Math.max(...counts) - Math.min(...counts);
            expect({ date, spread }).toEqual({ date, spread: Math.min(spread, 1) });
          }
        },
      ),
      { numRuns: 8 },
    );
  }, 300_000);

  const scenarios: [string, Partial<PlannerSettings>, number][] = [
    // name, settings, share of demand the quota allows
    ['ample capacity', {}, 2],
    ['quota binding', {}, 0.6],
    [
      'quota and pace binding',
      { TWILIO_MESSAGES_PER_SECOND: 1, OPENAI_REQUESTS_PER_MIN: 1, OPENAI_TOKENS_PER_MIN: 10_000 },
      0.8,
    ],
  ];
  it.each(scenarios)(
    'plans uniform local times in every zone (chi-square p ≥ 0.001): %s',
    async (_name, caps, share) => {
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray([...ZONES], { minLength: 4, maxLength: 6 }),
          runSchedule,
          async (zones, schedule) => {
            await sql`TRUNCATE subscribers, deliveries RESTART IDENTITY CASCADE`.execute(db());
            // The six zones whose windows crossed (or followed) UTC midnight in the report are always in.
            const all = [
              ...new Set([
                'Pacific/Pago_Pago',
                'Pacific/Honolulu',
                'America/Anchorage',
                'America/Los_Angeles',
                'Pacific/Noumea',
                'Pacific/Tarawa',
                ...zones,
              ]),
            ];
            const perZone = 120;
            await addSubscribersInZones(db(), all, perZone);
            const settings = {
              ...ample,
              ...caps,
              TWILIO_MESSAGES_PER_DAY: Math.floor(all.length * perZone * share),
            };
            const { deliveries, summaries } = await simulateDailyRuns(db(), settings, {
              firstRun: firstRunOf(schedule),
              days: 5,
              seed: schedule.seed,
            });
            if (caps.OPENAI_REQUESTS_PER_MIN === 1) {
              // The scenario really is pace-bound: some subscribers found no room in their window.
              expect(summaries.reduce((n, s) => n + (s.skipped.capacity ?? 0), 0)).toBeGreaterThan(0);
            }
            for (const [zone, times] of wholeWindowTimesByZone(deliveries)) {
              const fit = localHourUniformity(times, zone, WINDOW, SEND_TAIL_MARGIN_MS);
              expect({ zone, observed: fit.observed, pOk: fit.p >= 0.001 }).toEqual({
                zone,
                observed: fit.observed,
                pOk: true,
              });
            }
          },
        ),
        { numRuns: 3 },
      );
    },
    300_000,
  );
});
