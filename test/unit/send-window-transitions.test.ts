// Windows whose start or end falls on a clock change, against a reference built from Intl alone: a wall time
// that exists once is that instant; one that exists twice (fall-back) is the earlier instant; one that does
// not exist (spring-forward gap) is the first instant after the gap. Whatever day the code runs on.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { localDateAt, sendWindowOn } from '../../src/domain/send-window.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const formats = new Map<string, Intl.DateTimeFormat>();
/** The wall-clock time at `instant` in `zone`, read as if it were UTC (ms). */
function wallClock(zone: string, instant: number): number {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, format);
  }
  const parts = new Map(format.formatToParts(instant).map((p) => [p.type, Number(p.value)]));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.get(type) ?? Number.NaN;
  return Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
}

const offsetsNear = new Map<string, number[]>();
/** Every UTC offset (ms) `zone` has within a day of `localDate`, sampled from Intl each quarter hour. */
function offsets(zone: string, localDate: string): number[] {
  const key = `${zone} ${localDate}`;
  let found = offsetsNear.get(key);
  if (!found) {
    const midnight = Date.parse(`${localDate}T00:00:00Z`);
    const seen = new Set<number>();
    for (let t = midnight - 2 * DAY; t <= midnight + 2 * DAY; t += 15 * MINUTE)
      seen.add(wallClock(zone, t) - t);
    found = [...seen];
    offsetsNear.set(key, found);
  }
  return found;
}

/** The instant a wall time names, by the rule above, from Intl's answers only. */
function reference(zone: string, localDate: string, minuteOfDay: number): number {
  const wall = Date.parse(`${localDate}T00:00:00Z`) + minuteOfDay * MINUTE;
  const instants = offsets(zone, localDate)
    .map((offset) => wall - offset)
    .filter((t) => wallClock(zone, t) === wall);
  if (instants.length > 0) return Math.min(...instants);
  // In a gap: between the instant the later offset names and the one the earlier offset names, the clock
  // jumps over `wall`; the first instant whose wall time is past it is where the gap ends.
  const candidates = offsets(zone, localDate).map((offset) => wall - offset);
  let lo = Math.min(...candidates);
  let hi = Math.max(...candidates);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wallClock(zone, mid) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Days on which `zone` changes its offset (and the days either side), 2025–2030, found with Intl. */
function transitionDays(zone: string): string[] {
  const days = new Set<string>();
  let previous = wallClock(zone, Date.UTC(2025, 0, 1)) - Date.UTC(2025, 0, 1);
  // Six-hourly: a clock change shows within six hours, and the days either side are added anyway.
  for (let t = Date.UTC(2025, 0, 1); t < Date.UTC(2031, 0, 1); t += 6 * HOUR) {
    const offset = wallClock(zone, t) - t;
    if (offset !== previous) {
      for (const d of [-1, 0, 1]) days.add(new Date(t + previous + d * DAY).toISOString().slice(0, 10));
      previous = offset;
    }
  }
  return [...days];
}

// Zones whose clocks change at unusual hours (midnight, 23:00, 01:00 UTC), by 30 minutes, or twice a year
// on religious calendars; plus the usual ones.
const ZONES = [
  'America/New_York',
  'Europe/London',
  'America/Havana',
  'America/Nuuk',
  'America/Scoresbysund',
  'America/Santiago',
  'Pacific/Easter',
  'Asia/Beirut',
  'Africa/Casablanca',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'America/Asuncion',
  'Asia/Gaza',
  'Africa/Cairo',
  'America/St_Johns',
  'Antarctica/Troll',
  'Europe/Dublin',
  'America/Miquelon',
];
const DAYS = ZONES.flatMap((zone) => transitionDays(zone).map((date) => [zone, date] as const));

describe('sendWindowOn on clock-change days', () => {
  it('finds the clock changes it tests', () => {
    expect(DAYS.length).toBeGreaterThan(ZONES.length * 20);
  });

  it.each([
    ['2026-01-15T12:00:00Z', 'in winter'],
    ['2026-07-15T12:00:00Z', 'in summer'],
  ])('gives each bound the reference instant, run %s (%s)', (now) => {
    vi.useFakeTimers({ now: new Date(now), toFake: ['Date'] });
    try {
      fc.assert(
        fc.property(
          fc.constantFrom(...DAYS),
          fc.integer({ min: 0, max: 1438 }),
          fc.integer({ min: 1, max: 1439 }),
          ([zone, date], a, b) => {
            const startMinute = Math.min(a, b);
            const endMinute = Math.max(a, b) > startMinute ? Math.max(a, b) : startMinute + 1;
            const w = sendWindowOn(zone, date, { startMinute, endMinute });
            const expected = [reference(zone, date, startMinute), reference(zone, date, endMinute)];
            expect({
              zone,
              date,
              startMinute,
              endMinute,
              bounds: [w.start, w.end].map((d) => d.getTime()),
            }).toEqual({
              zone,
              date,
              startMinute,
              endMinute,
              bounds: expected,
            });
            // A window never ends before it starts (it is empty when wholly inside a gap).
            expect(w.end.getTime()).toBeGreaterThanOrEqual(w.start.getTime());
          },
        ),
        { numRuns: 1500 },
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it('ends a window at the gap when its end does not exist: Nuuk springs forward at 23:00 local', () => {
    // 2026-03-28 in America/Nuuk: 22:59:59 −02 is followed by 00:00 −01 (01:00 UTC).
    const w = sendWindowOn('America/Nuuk', '2026-03-28', { startMinute: 12 * 60, endMinute: 23 * 60 });
    expect([w.start.toISOString(), w.end.toISOString()]).toEqual([
      '2026-03-28T14:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
    ]);
    expect(localDateAt('America/Nuuk', w.start)).toBe('2026-03-28');
  });

  it('takes the earlier of a repeated wall time, whatever the date today', () => {
    // 2026-11-01 01:30 happens twice in New York: 05:30 UTC (EDT), then 06:30 UTC (EST).
    for (const now of ['2026-07-01T00:00:00Z', '2026-12-01T00:00:00Z']) {
      vi.useFakeTimers({ now: new Date(now), toFake: ['Date'] });
      try {
        const w = sendWindowOn('America/New_York', '2026-11-01', { startMinute: 90, endMinute: 180 });
        expect(w.start.toISOString(), now).toBe('2026-11-01T05:30:00.000Z');
      } finally {
        vi.useRealTimers();
      }
    }
  });
});
