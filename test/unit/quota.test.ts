// Whether each subscriber is sent on a date: the quota in rotation order across windows, and a window the
// pace cannot fill handing its quota to the next subscribers whose windows have room.
import { describe, expect, it } from 'vitest';
import { decideDate, PLANNED, SKIP_QUOTA } from '../../src/domain/quota.js';
import { CapacityLedger, seededRandom } from '../../src/domain/slots.js';

const start = Date.parse('2026-06-01T12:00:00Z') / 1000;
const fiveHours = { start, end: start + 5 * 3600 };
const ample = () => new CapacityLedger({ perSecond: 10, perMinute: 1000 });
type Decision = { subscriber: number; window: number; outcome: 'planned' | 'quota' | 'capacity'; at?: Date };
/** decideDate over candidate objects; its columns back as one object per candidate. */
function decide(
  candidates: { subscriber: number; window: number }[],
  quotaLeft: number,
  windows: { start: number; end: number }[],
  ledger: CapacityLedger,
  seed: number,
): Decision[] {
  const columns = {
    subscriber: candidates.map((c) => c.subscriber),
    window: candidates.map((c) => c.window),
  };
  const { outcome, second } = decideDate(columns, quotaLeft, windows, ledger, seededRandom(seed));
  return candidates.map((c, i): Decision => {
    if (outcome[i] === PLANNED)
      return { ...c, outcome: 'planned', at: new Date((second[i] as number) * 1000) };
    return { ...c, outcome: outcome[i] === SKIP_QUOTA ? 'quota' : 'capacity' };
  });
}
const outcome = (d: Decision) => d.outcome;
const bySubscriber = (ds: Decision[]) =>
  Object.fromEntries(
    [...ds].sort((a, b) => a.subscriber - b.subscriber).map((d) => [d.subscriber, outcome(d)]),
  );

describe('decideDate', () => {
  it('serves the quota in rotation order, whatever the window, and skips the rest for quota', () => {
    const windows = [fiveHours, { start: start + 10 * 3600, end: start + 15 * 3600 }];
    const candidates = [0, 1, 2, 3, 4, 5].map((subscriber) => ({ subscriber, window: subscriber % 2 }));
    const decisions = decide(candidates, 4, windows, ample(), 1);
    expect(bySubscriber(decisions)).toEqual({
      0: 'planned',
      1: 'planned',
      2: 'planned',
      3: 'planned',
      4: 'quota',
      5: 'quota',
    });
    for (const d of decisions) {
      if (!d.at) continue;
      const w = windows[d.window] as { start: number; end: number };
      expect(d.at.getTime() / 1000).toBeGreaterThanOrEqual(w.start);
      expect(d.at.getTime() / 1000).toBeLessThan(w.end);
    }
  });

  it('plans nobody when the quota is used up, and everybody when it has room', () => {
    const candidates = [0, 1, 2].map((subscriber) => ({ subscriber, window: 0 }));
    expect(decide(candidates, 0, [fiveHours], ample(), 2).map(outcome)).toEqual(['quota', 'quota', 'quota']);
    expect(decide(candidates, 10, [fiveHours], ample(), 3).map(outcome)).toEqual([
      'planned',
      'planned',
      'planned',
    ]);
  });

  it('gives the quota a pace-full window cannot use to the next subscribers whose windows have room', () => {
    // Window 0 holds 10 sends (10 seconds at 1 a second); window 1 has room.
    const windows = [
      { start, end: start + 10 },
      { start: start + 3600, end: start + 7200 },
    ];
    const candidates = Array.from({ length: 40 }, (_, subscriber) => ({
      subscriber,
      window: subscriber < 20 ? 0 : 1,
    }));
    const ledger = new CapacityLedger({ perSecond: 1, perMinute: 60 });
    const decisions = decide(candidates, 25, windows, ledger, 4);
    const count = (window: number, what: string) =>
      decisions.filter((d) => d.window === window && outcome(d) === what).length;
    expect(count(0, 'planned')).toBe(10);
    expect(count(0, 'capacity')).toBe(10);
    // The quota (25) is met with window 1's first 15 in rotation order; its last 5 wait for quota.
    expect(count(1, 'planned')).toBe(15);
    expect(count(1, 'quota')).toBe(5);
    expect(decisions.filter((d) => outcome(d) === 'quota').map((d) => d.subscriber)).toEqual([
      35, 36, 37, 38, 39,
    ]);
    // Window 0's first 10 in rotation order are the ones served.
    const served0 = decisions.filter((d) => d.window === 0 && d.at).map((d) => d.subscriber);
    expect(served0.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
