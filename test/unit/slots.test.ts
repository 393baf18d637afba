// Slot assignment: inside the window, within every cap, counting sends planned earlier; random but fair.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { usableWindow, windowsToPlan } from '../../src/domain/planning-horizon.js';
import {
  allocatePace,
  CapacityLedger,
  openAiMessagesPerMinute,
  placeSpread,
  seededRandom,
} from '../../src/domain/slots.js';

const window = { startMinute: 12 * 60, endMinute: 17 * 60 };
const zones = [
  'America/New_York',
  'Europe/London',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
  'Asia/Kathmandu',
  'America/Los_Angeles',
];

function countBy(instants: Date[], bucketMs: number): number {
  const counts = new Map<number, number>();
  for (const t of instants) {
    const k = Math.floor(t.getTime() / bucketMs);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return Math.max(0, ...counts.values());
}

describe('openAiMessagesPerMinute', () => {
  it.each([
    [50, 10_000, 250, 40], // tokens bind: 10,000 / 250
    [30, 10_000, 250, 30], // requests bind
    [50, 10_000, 3_000, 3],
    [50, 100, 250, 0], // not even one message a minute fits
  ])('rpm %i, tpm %i, %i tokens/message → %i per minute', (rpm, tpm, tokens, expected) => {
    expect(
      openAiMessagesPerMinute({
        requestsPerMinute: rpm,
        tokensPerMinute: tpm,
        expectedTokensPerMessage: tokens,
      }),
    ).toBe(expected);
  });
});

describe('CapacityLedger.assign', () => {
  it('refuses caps that are not positive integers', () => {
    expect(() => new CapacityLedger({ perSecond: 1, perMinute: 0 })).toThrow(/perMinute/);
  });

  it('gives whole seconds inside the window, spread roughly uniformly', () => {
    const ledger = new CapacityLedger({ perSecond: 1000, perMinute: 100_000 });
    const start = new Date('2026-06-01T16:00:00Z');
    const end = new Date('2026-06-01T21:00:00Z');
    const random = seededRandom(42);
    const hourly = [0, 0, 0, 0, 0];
    for (let i = 0; i < 10_000; i++) {
      const slot = ledger.assign(start, end, random);
      if (!slot.ok) throw new Error('unexpected refusal');
      expect(slot.at.getTime() % 1000).toBe(0);
      expect(slot.at >= start && slot.at < end).toBe(true);
      const hour = Math.floor((slot.at.getTime() - start.getTime()) / 3_600_000);
      hourly[hour] = (hourly[hour] ?? 0) + 1;
    }
    // 2,000 expected per hour; a uniform draw stays well within ±10 %.
    for (const n of hourly) expect(Math.abs(n - 2000)).toBeLessThan(200);
  });

  it('counts sends planned earlier and says when the pace ran out', () => {
    const start = new Date('2026-06-01T16:00:00Z');
    const end = new Date('2026-06-01T16:00:03Z'); // three seconds
    const paced = new CapacityLedger({ perSecond: 1, perMinute: 100 });
    paced.reserve(new Date('2026-06-01T16:00:01Z'));
    const random = seededRandom(1);
    const got = [
      paced.assign(start, end, random),
      paced.assign(start, end, random),
      paced.assign(start, end, random),
    ];
    expect(got.slice(0, 2).every((g) => g.ok)).toBe(true);
    expect(got[2]).toEqual({ ok: false, reason: 'capacity' });
    expect(got.flatMap((g) => (g.ok ? [g.at.toISOString()] : [])).sort()).toEqual([
      '2026-06-01T16:00:00.000Z',
      '2026-06-01T16:00:02.000Z',
    ]);
  });

  it('property: every instant inside its window; no second or minute over its cap', () => {
    fc.assert(
      fc.property(
        fc.record({
          subscribers: fc.array(fc.constantFrom(...zones), { minLength: 1, maxLength: 400 }),
          perSecond: fc.integer({ min: 1, max: 3 }),
          perMinute: fc.integer({ min: 1, max: 30 }),
          nowMs: fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 11, 31) }),
          earlier: fc.array(fc.integer({ min: 0, max: 40 * 3600 }), { maxLength: 200 }),
          seed: fc.integer(),
        }),
        ({ subscribers, perSecond, perMinute, nowMs, earlier, seed }) => {
          const now = new Date(Math.floor(nowMs / 1000) * 1000);
          const ledger = new CapacityLedger({ perSecond, perMinute });
          // Sends planned by an earlier run, themselves within the caps (they went through a ledger too).
          const earlierLedger = new CapacityLedger({ perSecond, perMinute });
          const previous: Date[] = [];
          for (const offset of earlier) {
            const t = new Date(now.getTime() + offset * 1000);
            const slot = earlierLedger.assign(t, new Date(t.getTime() + 1000), () => 0);
            if (slot.ok) {
              previous.push(slot.at);
              ledger.reserve(slot.at);
            }
          }
          const random = seededRandom(seed);
          const planned: Date[] = [];
          for (const zone of subscribers) {
            for (const w of windowsToPlan(zone, now, { window, horizonHours: 26, minLeadMs: 300_000 })) {
              const usable = usableWindow(w, now, 300_000);
              const slot = ledger.assign(usable.start, usable.end, random);
              if (!slot.ok) continue;
              expect(slot.at.getTime()).toBeGreaterThanOrEqual(w.start.getTime());
              expect(slot.at.getTime()).toBeLessThan(w.end.getTime());
              expect(slot.at.getTime()).toBeGreaterThanOrEqual(now.getTime());
              planned.push(slot.at);
            }
          }
          const all = [...previous, ...planned];
          expect(countBy(all, 1000)).toBeLessThanOrEqual(perSecond);
          expect(countBy(all, 60_000)).toBeLessThanOrEqual(perMinute);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('CapacityLedger.release', () => {
  it('frees the second and minute a moved send had taken, and never counts below zero', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 1 });
    const start = new Date('2026-03-07T12:00:00Z');
    const end = new Date('2026-03-07T12:00:01Z');
    expect(ledger.assign(start, end, seededRandom(1))).toEqual({ ok: true, at: start });
    expect(ledger.assign(start, end, seededRandom(2))).toEqual({ ok: false, reason: 'capacity' });

    ledger.release(start);
    expect(ledger.roomInMinute(start.getTime() / 60_000)).toBe(1);
    ledger.release(start); // a send the ledger never counted (planned before its loaded range)
    expect(ledger.roomInMinute(start.getTime() / 60_000)).toBe(1);
    expect(ledger.assign(start, end, seededRandom(3))).toEqual({ ok: true, at: start });
    expect(ledger.roomInMinute(start.getTime() / 60_000)).toBe(0);
  });
});

describe('allocatePace', () => {
  const at = (iso: string) => Date.parse(iso) / 1000;
  it('gives every demand all it asks when the pace has room', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 40 });
    const demands = [
      { start: at('2026-06-01T12:00:00Z'), end: at('2026-06-01T17:00:00Z'), count: 5000 },
      { start: at('2026-06-01T15:00:00Z'), end: at('2026-06-01T20:00:00Z'), count: 5000 },
    ];
    expect(allocatePace(ledger, demands)).toEqual([5000, 5000]);
  });

  it('cuts windows sharing a full minute by the same share, and leaves a window with room alone', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 10 });
    const hour = 3600;
    const a = at('2026-06-01T12:00:00Z');
    // A and B overlap completely (20 a minute wanted, 10 fit); C is elsewhere and fits.
    const demands = [
      { start: a, end: a + hour, count: 600 },
      { start: a, end: a + hour, count: 600 },
      { start: a + 5 * hour, end: a + 6 * hour, count: 300 },
    ];
    expect(allocatePace(ledger, demands)).toEqual([300, 300, 300]);
    // Sends already planned count: half of A and B's hour is taken.
    for (let m = 0; m < 60; m++) ledger.reserve(new Date((a + m * 60) * 1000), 5);
    expect(allocatePace(ledger, demands)).toEqual([150, 150, 300]);
  });

  it('lets the per-second cap bind a minute when it is tighter than the per-minute one', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 1000 });
    const a = at('2026-06-01T12:00:00Z');
    expect(allocatePace(ledger, [{ start: a, end: a + 600, count: 1200 }])).toEqual([600]);
  });
});

describe('placeSpread', () => {
  it('gives each send a second of its own stratum: every hour of the window gets its share', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 60 });
    const start = Date.parse('2026-06-01T12:00:00Z') / 1000;
    const [times] = placeSpread(ledger, [{ start, end: start + 5 * 3600, count: 1000 }], seededRandom(4));
    const hourly = [0, 0, 0, 0, 0];
    for (const t of times ?? []) {
      expect(Number.isNaN(t)).toBe(false);
      const h = Math.floor((t - start) / 3600);
      hourly[h] = (hourly[h] ?? 0) + 1;
    }
    expect(hourly).toEqual([200, 200, 200, 200, 200]);
  });

  it('moves a send whose drawn second is taken to the nearest free one, and gives null when none is left', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 60 });
    const start = Date.parse('2026-06-01T12:00:00Z') / 1000;
    for (let s = start; s < start + 10; s++) if (s !== start + 7) ledger.reserve(new Date(s * 1000));
    const [times] = placeSpread(ledger, [{ start, end: start + 10, count: 2 }], seededRandom(5));
    expect([...(times ?? [])].filter((t) => !Number.isNaN(t))).toEqual([start + 7]);
    expect([...(times ?? [])].filter((t) => Number.isNaN(t))).toHaveLength(1);
  });

  it('property: inside the window, within every cap, whatever was planned before', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: 7200 }),
            span: fc.integer({ min: 1, max: 3600 }),
            count: fc.integer({ min: 0, max: 200 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer(),
        (specs, perSecond, perMinute, seed) => {
          const ledger = new CapacityLedger({ perSecond, perMinute });
          const base = Date.parse('2026-06-01T12:00:00Z') / 1000;
          const demands = specs.map((d) => ({
            start: base + d.offset,
            end: base + d.offset + d.span,
            count: d.count,
          }));
          const allowed = allocatePace(ledger, demands);
          const placed = placeSpread(
            ledger,
            demands.map((d, i) => ({ ...d, count: allowed[i] ?? 0 })),
            seededRandom(seed),
          );
          const all: Date[] = [];
          for (const [i, times] of placed.entries()) {
            for (const t of times) {
              if (Number.isNaN(t)) continue;
              expect(t).toBeGreaterThanOrEqual(demands[i]?.start ?? 0);
              expect(t).toBeLessThan(demands[i]?.end ?? 0);
              all.push(new Date(t * 1000));
            }
          }
          expect(countBy(all, 1000)).toBeLessThanOrEqual(perSecond);
          expect(countBy(all, 60_000)).toBeLessThanOrEqual(perMinute);
        },
      ),
      { numRuns: 200 },
    );
  });
});
