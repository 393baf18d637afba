// Slot assignment: inside the window, within every cap, counting sends planned earlier; random but fair.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { usableWindow, windowsToPlan } from '../../src/domain/planning-horizon.js';
import { CapacityLedger, openAiMessagesPerMinute, seededRandom } from '../../src/domain/slots.js';

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
    expect(() => new CapacityLedger({ perSecond: 1, perMinute: 0, perDay: 10 })).toThrow(/perMinute/);
  });

  it('gives whole seconds inside the window, spread roughly uniformly', () => {
    const ledger = new CapacityLedger({ perSecond: 1000, perMinute: 100_000, perDay: 1_000_000 });
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

  it('counts sends planned earlier and says whether the day or the pace ran out', () => {
    const start = new Date('2026-06-01T16:00:00Z');
    const end = new Date('2026-06-01T16:00:03Z'); // three seconds
    const paced = new CapacityLedger({ perSecond: 1, perMinute: 100, perDay: 100 });
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

    const quota = new CapacityLedger({ perSecond: 5, perMinute: 100, perDay: 2 });
    quota.reserve(new Date('2026-06-01T03:00:00Z'), 2);
    expect(quota.assign(start, end, random)).toEqual({ ok: false, reason: 'quota' });
  });

  it('property: every instant inside its window; no second, minute or day over its cap', () => {
    fc.assert(
      fc.property(
        fc.record({
          subscribers: fc.array(fc.constantFrom(...zones), { minLength: 1, maxLength: 400 }),
          perSecond: fc.integer({ min: 1, max: 3 }),
          perMinute: fc.integer({ min: 1, max: 30 }),
          perDay: fc.integer({ min: 1, max: 600 }),
          nowMs: fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 11, 31) }),
          earlier: fc.array(fc.integer({ min: 0, max: 40 * 3600 }), { maxLength: 200 }),
          seed: fc.integer(),
        }),
        ({ subscribers, perSecond, perMinute, perDay, nowMs, earlier, seed }) => {
          const now = new Date(Math.floor(nowMs / 1000) * 1000);
          const ledger = new CapacityLedger({ perSecond, perMinute, perDay });
          // Sends planned by an earlier run, themselves within the caps (they went through a ledger too).
          const earlierLedger = new CapacityLedger({ perSecond, perMinute, perDay });
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
          expect(countBy(all, 86_400_000)).toBeLessThanOrEqual(perDay);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('CapacityLedger.release', () => {
  it('frees the second, minute and day a moved send had taken, and never counts below zero', () => {
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 100, perDay: 1 });
    const start = new Date('2026-03-07T12:00:00Z');
    const end = new Date('2026-03-07T12:00:01Z');
    expect(ledger.assign(start, end, seededRandom(1))).toEqual({ ok: true, at: start });
    expect(ledger.assign(start, end, seededRandom(2))).toEqual({ ok: false, reason: 'quota' });

    ledger.release(start);
    expect(ledger.usedOnDay(start)).toBe(0);
    ledger.release(start); // a send the ledger never counted (planned before its loaded range)
    expect(ledger.usedOnDay(start)).toBe(0);
    expect(ledger.assign(start, end, seededRandom(3))).toEqual({ ok: true, at: start });
    expect(ledger.usedOnDay(start)).toBe(1);
  });
});
