// WHETHER each subscriber is sent on one local date: the daily quota counts per local date (every zone's
// window of that date together, see docs/planner.md), given out in rotation order — whoever was skipped
// most recently first — across all zones alike. WHEN is then a uniform draw over each window
// (src/domain/slots.ts), limited only by the pace; a window the pace cannot fill loses the same share of
// its sends as every other window sharing its busiest minute, and the quota it frees goes to the next
// subscribers in rotation order whose windows have room.
import { allocatePace, type CapacityLedger, type PaceDemand, placeSpread, type Random } from './slots.js';

/** Candidates for one date, in rotation order (first = first served), as parallel columns. */
export interface DateCandidates {
  /** The caller's handle for each subscriber. */
  subscriber: ArrayLike<number>;
  /** Index of each subscriber's usable window on this date in the `windows` array. */
  window: ArrayLike<number>;
}

export const PLANNED = 0;
export const SKIP_QUOTA = 1;
const SKIP_CAPACITY = 2;

/** Per candidate (same positions): PLANNED with its Unix second, or skipped (SKIP_QUOTA, SKIP_CAPACITY). */
export interface DateDecisions {
  outcome: Uint8Array;
  /** NaN when skipped. */
  second: Float64Array;
}

/**
 * Decides one local date. `quotaLeft` is the quota minus what earlier runs already planned on this date;
 * `windows` are the usable parts of each zone's window, in whole seconds [start, end). Reserves the chosen
 * seconds in `ledger`.
 */
export function decideDate(
  candidates: DateCandidates,
  quotaLeft: number,
  windows: readonly { start: number; end: number }[],
  ledger: CapacityLedger,
  random: Random,
): DateDecisions {
  const n = candidates.window.length;
  const outcome = new Uint8Array(n).fill(SKIP_QUOTA);
  const second = new Float64Array(n).fill(Number.NaN);
  const chosen: number[][] = windows.map(() => []);
  const full = new Set<number>();
  let taken = 0;
  let next = 0;
  for (;;) {
    // Fill the quota in rotation order, passing over windows the pace has already shown to be full.
    while (taken < quotaLeft && next < n) {
      const c = next++;
      const w = candidates.window[c] as number;
      if (full.has(w)) {
        outcome[c] = SKIP_CAPACITY;
        continue;
      }
      (chosen[w] as number[]).push(c);
      taken++;
    }
    // The pace each window can take when its sends are spread uniformly; the last chosen of a window
    // over it are skipped, and their quota goes round again.
    const demands: PaceDemand[] = windows.map((w, i) => ({ ...w, count: chosen[i]?.length ?? 0 }));
    const allowed = allocatePace(ledger, demands);
    let freed = 0;
    for (const [i, a] of allowed.entries()) {
      const list = chosen[i] as number[];
      if (a >= list.length) continue;
      full.add(i);
      for (const c of list.splice(a)) outcome[c] = SKIP_CAPACITY;
      freed += (demands[i] as PaceDemand).count - a;
    }
    taken -= freed;
    if (freed === 0 || next >= n) break;
  }
  // Past the quota (positions from `next` on): skipped for it, whatever their window (already SKIP_QUOTA).

  const spread = placeSpread(
    ledger,
    windows.map((w, i) => ({ ...w, count: chosen[i]?.length ?? 0 })),
    random,
  );
  for (const [i, list] of chosen.entries()) {
    const seconds = spread[i] as Float64Array;
    for (const [k, c] of list.entries()) {
      const at = seconds[k] as number;
      if (Number.isNaN(at)) {
        outcome[c] = SKIP_CAPACITY;
      } else {
        outcome[c] = PLANNED;
        second[c] = at;
      }
    }
  }
  return { outcome, second };
}
