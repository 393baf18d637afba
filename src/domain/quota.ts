// WHETHER each subscriber is sent on one local date: the daily quota counts per local date (every zone's
// window of that date together, see docs/planner.md), given out in rotation order — whoever was skipped
// most recently first — across all zones alike. WHEN is then a uniform draw over each window
// (src/domain/slots.ts), limited only by the pace; a window the pace cannot fill loses the same share of
// its sends as every other window sharing its busiest minute, and the quota it frees goes to the next
// subscribers in rotation order whose windows have room.
import { allocatePace, type CapacityLedger, type PaceDemand, placeSpread, type Random } from './slots.js';

export interface DateCandidate {
  /** The caller's handle for the subscriber. */
  subscriber: number;
  /** Index of the subscriber's usable window on this date in the `windows` array. */
  window: number;
}

export type DateDecision =
  | { subscriber: number; window: number; at: Date }
  | { subscriber: number; window: number; skip: 'quota' | 'capacity' };

/**
 * Decides one local date. `candidates` are in rotation order (first = first served); `quotaLeft` is the
 * quota minus what earlier runs already planned on this date; `windows` are the usable parts of each
 * zone's window, in whole seconds [start, end). Reserves the chosen seconds in `ledger`.
 */
export function decideDate(
  candidates: readonly DateCandidate[],
  quotaLeft: number,
  windows: readonly { start: number; end: number }[],
  ledger: CapacityLedger,
  random: Random,
): DateDecision[] {
  const decisions: DateDecision[] = [];
  const chosen: DateCandidate[][] = windows.map(() => []);
  const full = new Set<number>();
  let taken = 0;
  let next = 0;
  for (;;) {
    // Fill the quota in rotation order, passing over windows the pace has already shown to be full.
    while (taken < quotaLeft && next < candidates.length) {
      const c = candidates[next++] as DateCandidate;
      if (full.has(c.window)) {
        decisions.push({ ...c, skip: 'capacity' });
        continue;
      }
      (chosen[c.window] as DateCandidate[]).push(c);
      taken++;
    }
    // The pace each window can take when its sends are spread uniformly; the last chosen of a window
    // over it are skipped, and their quota goes round again.
    const demands: PaceDemand[] = windows.map((w, i) => ({ ...w, count: chosen[i]?.length ?? 0 }));
    const allowed = allocatePace(ledger, demands);
    let freed = 0;
    for (const [i, n] of allowed.entries()) {
      const list = chosen[i] as DateCandidate[];
      if (n >= list.length) continue;
      full.add(i);
      for (const c of list.splice(n)) decisions.push({ ...c, skip: 'capacity' });
      freed += (demands[i] as PaceDemand).count - n;
    }
    taken -= freed;
    if (freed === 0 || next >= candidates.length) break;
  }
  // Past the quota: skipped for it, whatever their window.
  for (const c of candidates.slice(next)) decisions.push({ ...c, skip: 'quota' });

  const spread = placeSpread(
    ledger,
    windows.map((w, i) => ({ ...w, count: chosen[i]?.length ?? 0 })),
    random,
  );
  for (const [i, list] of chosen.entries()) {
    const seconds = spread[i] as (Date | null)[];
    for (const [k, c] of list.entries()) {
      const at = seconds[k];
      decisions.push(at ? { ...c, at } : { ...c, skip: 'capacity' });
    }
  }
  return decisions;
}
