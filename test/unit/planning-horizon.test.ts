// The horizon rule over a simulated year of daily runs: every local date planned exactly once, before its
// window opens, whatever fixed UTC time the run happens at, across 23- and 25-hour days. Runs decide whole
// local dates (the quota counts per local date), so a date is decided before its first window anywhere.
import { describe, expect, it } from 'vitest';
import { datesToPlan, usableWindow, windowsToPlan } from '../../src/domain/planning-horizon.js';
import { addDays, sendWindowOn } from '../../src/domain/send-window.js';

const window = { startMinute: 12 * 60, endMinute: 17 * 60 };
const zones = [
  'America/New_York',
  'Europe/London',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
  'America/St_Johns',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'America/Santiago',
];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Runs the planner rule once a day for a year; returns how often each local date was planned. */
function simulateYear(
  zone: string,
  runTimeUtc: string,
  horizonHours: number,
  lateBy: (day: number) => number,
) {
  const first = new Date(`2026-01-01T${runTimeUtc}Z`).getTime();
  const planned = new Map<string, { plannedBeforeStart: boolean }>();
  for (let day = 0; day < 366; day++) {
    const now = new Date(first + day * DAY + lateBy(day));
    for (const w of windowsToPlan(zone, now, { window, horizonHours, minLeadMs: 5 * 60_000 })) {
      // "Not yet planned" is the database's unique (subscriber, local date); this map plays its part, so a
      // date offered by two overlapping runs is kept from the first (exactly once by construction).
      if (planned.has(w.localDate)) continue;
      planned.set(w.localDate, { plannedBeforeStart: w.start.getTime() >= now.getTime() });
    }
  }
  return planned;
}

describe('windowsToPlan over a year of daily runs', () => {
  const runTimes = ['00:00:00', '10:00:00', '16:45:00', '23:59:00'];
  it.each(zones.flatMap((zone) => runTimes.map((t) => [zone, t] as const)))(
    '%s, run daily at %s UTC: every local date once, each before its window opens',
    (zone, runTime) => {
      const planned = simulateYear(zone, runTime, 26, () => 0);
      // Dates from the second day on (the first run may find today's window already under way).
      const dates = [...planned.keys()].sort();
      const firstDate = dates[0] as string;
      const lastFull = addDays(firstDate, 360);
      for (let d = addDays(firstDate, 1); d <= lastFull; d = addDays(d, 1)) {
        const entry = planned.get(d);
        expect(entry, `${zone} ${d} never planned`).toBeDefined();
        expect(entry?.plannedBeforeStart, `${zone} ${d} planned late`).toBe(true);
      }
      expect(dates.length).toBeGreaterThanOrEqual(366);
    },
  );

  it('each run decides whole dates: at most three windows per zone, none passed, each date begun within the horizon', () => {
    for (let h = 0; h < 24; h++) {
      const now = new Date(Date.UTC(2026, 2, 8, h, 17));
      const dates = datesToPlan(now, { window, horizonHours: 26 });
      expect(dates.length).toBeGreaterThanOrEqual(2);
      expect(dates.length).toBeLessThanOrEqual(3);
      for (const d of dates) {
        // The date's first window anywhere (UTC+14) starts within 26 h; its last (UTC−12) has not ended.
        expect(sendWindowOn('Etc/GMT-14', d, window).start.getTime()).toBeLessThan(now.getTime() + 26 * HOUR);
        expect(sendWindowOn('Etc/GMT+12', d, window).end.getTime()).toBeGreaterThan(now.getTime());
      }
      for (const zone of zones) {
        const ws = windowsToPlan(zone, now, { window, horizonHours: 26 });
        expect(ws.length).toBeGreaterThanOrEqual(1);
        expect(ws.length).toBeLessThanOrEqual(3);
        for (const w of ws) {
          expect(dates).toContain(w.localDate);
          expect(w.end.getTime()).toBeGreaterThan(now.getTime());
        }
      }
    }
  });

  it('datesToPlan agrees with the zone database for UTC+14 and UTC−12, every 61 h 17 min of a year', () => {
    // datesToPlan does the fixed-offset arithmetic itself; this is the rule spelled with sendWindowOn, over
    // a wider range of dates. The odd step visits every time of day and both sides of each DST change.
    const reference = (now: Date, minLeadMs: number) => {
      const today = now.toISOString().slice(0, 10);
      const dates: string[] = [];
      for (let offset = -3; offset <= 5; offset++) {
        const d = addDays(today, offset);
        if (
          sendWindowOn('Etc/GMT-14', d, window).start.getTime() < now.getTime() + 26 * HOUR &&
          sendWindowOn('Etc/GMT+12', d, window).end.getTime() > now.getTime() + minLeadMs
        )
          dates.push(d);
      }
      return dates;
    };
    const from = Date.UTC(2026, 0, 1);
    for (let t = from; t < from + 366 * DAY; t += 61 * HOUR + 17 * 60_000) {
      const now = new Date(t);
      expect(
        datesToPlan(now, { window, horizonHours: 26, minLeadMs: 5 * 60_000 }),
        now.toISOString(),
      ).toEqual(reference(now, 5 * 60_000));
    }
  });

  it('still covers every date when runs are up to 90 minutes late at random', () => {
    let seed = 7;
    const jitter = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return (seed / 2 ** 31) * 90 * 60_000;
    };
    const planned = simulateYear('America/New_York', '10:00:00', 26, jitter);
    for (let d = '2026-01-02'; d <= '2026-12-31'; d = addDays(d, 1)) expect(planned.has(d), d).toBe(true);
  });

  it('a 24-hour horizon is not enough: a late run leaves a date behind', () => {
    // Why the default is 26 h. A date is decided when its first window anywhere (UTC+14) is within the
    // horizon; run at 21:59 UTC, a minute before Kiritimati's window opens, and one run 1 h late.
    const planned = simulateYear('Pacific/Kiritimati', '21:59:00', 24, (day) => (day === 150 ? HOUR : 0));
    const missing: string[] = [];
    for (let d = '2026-01-03'; d <= '2026-12-31'; d = addDays(d, 1))
      if (!planned.get(d)?.plannedBeforeStart) missing.push(d);
    expect(missing.length).toBeGreaterThan(0);
    // The same late run with the default 26 h horizon leaves nothing behind.
    const roomy = simulateYear('Pacific/Kiritimati', '21:59:00', 26, (day) => (day === 150 ? HOUR : 0));
    for (let d = '2026-01-03'; d <= '2026-12-31'; d = addDays(d, 1))
      expect(roomy.get(d)?.plannedBeforeStart, d).toBe(true);
  });

  it('usableWindow trims a window already under way to the time left', () => {
    const w = sendWindowOn('Europe/London', '2026-06-01', window);
    const now = new Date('2026-06-01T12:00:00Z');
    expect(usableWindow(w, now, 60_000)).toEqual({ start: new Date('2026-06-01T12:01:00Z'), end: w.end });
    expect(usableWindow(w, new Date('2026-06-01T00:00:00Z')).start).toEqual(w.start);
    // A tail margin keeps the window's last minutes free for sends that fire a little late.
    expect(usableWindow(w, new Date('2026-06-01T00:00:00Z'), 0, 120_000).end).toEqual(
      new Date(w.end.getTime() - 120_000),
    );
  });
});
