// Uniform local send times, measured honestly (issue #16 §2): the real planner over a few simulated daily
// runs in 24 zones (windows across UTC midnight, half-hour and 45-minute offsets included), counting only
// windows planned whole — before they opened — so a window already under way when a run starts does not
// look like a skew. Per zone, Pearson's chi-square of the planned local hours against a uniform draw over
// the window; the zones' statistics pooled per scenario: ample capacity, pace-bound, quota-bound.
import type { Config } from '../../src/config.js';
import type { PlannerSettings } from '../../src/services/plan-day.js';
import { SEND_TAIL_MARGIN_MS } from '../../src/services/plan-day.js';
import {
  addSubscribersInZones,
  isRotationSkip,
  simulateDailyRuns,
} from '../../test/support/planner-simulation.js';
import { type ChiSquare, localHourUniformity, pooled } from '../../test/support/uniformity.js';
import { BENCH_ZONES, withScratchDatabase } from './database.js';
import type { BenchRow } from './report.js';

const PLAN_LEAD_MS = 5 * 60_000;
const RUNS = 4;
/** A Monday in March: DST starts in North America during the runs. */
const FIRST_RUN = new Date('2026-03-02T06:00:00Z');

interface Scenario {
  name: string;
  settings: (base: PlannerSettings, subscribers: number) => PlannerSettings;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'ample capacity',
    settings: (base, n) => ({
      ...base,
      TWILIO_MESSAGES_PER_DAY: 2 * n,
      OPENAI_REQUESTS_PER_MIN: 10_000,
      OPENAI_TOKENS_PER_MIN: 10_000_000,
    }),
  },
  {
    // Two sends a minute against ~7 wanted where windows overlap most: the pace binds for hours a day.
    name: 'pace-bound',
    settings: (base, n) => ({
      ...base,
      TWILIO_MESSAGES_PER_DAY: 2 * n,
      TWILIO_MESSAGES_PER_SECOND: 1,
      OPENAI_REQUESTS_PER_MIN: 2,
      OPENAI_TOKENS_PER_MIN: 10_000,
    }),
  },
  {
    name: 'quota-bound',
    settings: (base, n) => ({
      ...base,
      TWILIO_MESSAGES_PER_DAY: Math.floor(0.6 * n),
      OPENAI_REQUESTS_PER_MIN: 10_000,
      OPENAI_TOKENS_PER_MIN: 10_000_000,
    }),
  },
];

export async function benchUniformity(
  adminUrl: string,
  config: Config,
  subscribers: number,
): Promise<BenchRow[]> {
  const perZone = Math.max(1, Math.round(subscribers / BENCH_ZONES.length));
  const base: PlannerSettings = {
    SEND_WINDOW_START: config.SEND_WINDOW_START,
    SEND_WINDOW_END: config.SEND_WINDOW_END,
    PLANNER_HORIZON_HOURS: config.PLANNER_HORIZON_HOURS,
    TWILIO_MESSAGES_PER_DAY: config.TWILIO_MESSAGES_PER_DAY,
    TWILIO_MESSAGES_PER_SECOND: 10,
    OPENAI_REQUESTS_PER_MIN: config.OPENAI_REQUESTS_PER_MIN,
    OPENAI_TOKENS_PER_MIN: config.OPENAI_TOKENS_PER_MIN,
    OPENAI_EXPECTED_TOKENS_PER_MESSAGE: config.OPENAI_EXPECTED_TOKENS_PER_MESSAGE,
  };
  const window = { startMinute: config.SEND_WINDOW_START, endMinute: config.SEND_WINDOW_END };
  const rows: BenchRow[] = [];
  for (const scenario of SCENARIOS) {
    const n = perZone * BENCH_ZONES.length;
    const settings = scenario.settings(base, n);
    const { deliveries } = await withScratchDatabase(adminUrl, 'uniformity', async ({ db }) => {
      await addSubscribersInZones(db, BENCH_ZONES, perZone);
      return simulateDailyRuns(db, settings, { firstRun: FIRST_RUN, days: RUNS, seed: 16 });
    });
    const byZone = new Map<string, Date[]>();
    for (const d of deliveries) {
      if (d.state !== 'planned' || !d.plannedAt) continue;
      if (d.windowStart.getTime() < d.createdBy.getTime() + PLAN_LEAD_MS) continue; // whole windows only
      byZone.set(d.timeZone, [...(byZone.get(d.timeZone) ?? []), d.plannedAt]);
    }
    const fits: (ChiSquare & { zone: string; n: number })[] = [...byZone].map(([zone, times]) => ({
      ...localHourUniformity(times, zone, window, SEND_TAIL_MARGIN_MS),
      zone,
      n: times.length,
    }));
    const all = pooled(fits);
    const worst = fits.reduce((a, b) => (b.p < a.p ? b : a));
    const planned = fits.reduce((sum, f) => sum + f.n, 0);
    const skipped = deliveries.filter(isRotationSkip);
    const byReason = (reason: string) => skipped.filter((d) => d.reason === reason).length;
    rows.push({
      section: 'pace',
      metric: `uniform local hour, ${scenario.name}: χ² ${all.statistic.toFixed(1)} on ${all.df} df`,
      value: Number(all.p.toPrecision(3)),
      unit: 'p',
      target: { text: 'p ≥ 0.001', met: all.p >= 0.001 && worst.p >= 0.001 },
      note:
        `${RUNS} daily runs, ${n.toLocaleString('en-US')} subscribers in ${BENCH_ZONES.length} zones (${fits.length} with sends in windows planned whole); ` +
        `${planned.toLocaleString('en-US')} sends in windows planned whole; skipped ${byReason('quota')} for quota, ${byReason('capacity')} for pace; ` +
        `worst zone ${worst.zone} χ² ${worst.statistic.toFixed(2)} (${worst.df} df) p ${worst.p.toPrecision(3)}; ` +
        'times are stratified uniform draws (each send uniform over its window, the window cut in equal strata), so hour counts sit close to their share',
    });
  }
  return rows;
}
