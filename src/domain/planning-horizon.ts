// Which local dates a planner run at `now` must plan. A run plans every window that ends after `now` and
// starts before `now + horizon`; whatever is already planned is left alone. With a daily run and a horizon
// longer than 24 h consecutive runs overlap, so no window falls between two runs (even when a run is a
// little late or a local day is 23 or 25 hours long), and the overlap is what "already planned" removes.
import { addDays, localDateAt, type SendWindow, sendWindowOn, type WindowMinutes } from './send-window.js';

export interface HorizonOptions {
  window: WindowMinutes;
  /** How far ahead a run looks, in hours. Must exceed the interval between runs (24 h). */
  horizonHours: number;
  /** A window must still have this many ms left after `now` to be planned (room for the schedule). */
  minLeadMs?: number;
}

/** Windows in `timeZone` a run at `now` should plan, earliest first. Throws InvalidTimeZone. */
export function windowsToPlan(timeZone: string, now: Date, options: HorizonOptions): SendWindow[] {
  const today = localDateAt(timeZone, now);
  const horizonEnd = now.getTime() + options.horizonHours * 3_600_000;
  const earliestEnd = now.getTime() + (options.minLeadMs ?? 0);
  const windows: SendWindow[] = [];
  // Yesterday (a window still open just after local midnight) through the last day the horizon reaches.
  const lastOffset = Math.ceil(options.horizonHours / 24) + 1;
  for (let offset = -1; offset <= lastOffset; offset++) {
    const w = sendWindowOn(timeZone, addDays(today, offset), options.window);
    if (w.end.getTime() > earliestEnd && w.start.getTime() < horizonEnd) windows.push(w);
  }
  return windows;
}

/**
 * The part of a window still usable at `now`: planned instants must fall in it. `tailMarginMs` keeps
 * the last moments of the window free, so a send that fires a little late (a Scheduler retry, the model
 * writing, a turn in the 1-per-second queue) still lands before the window closes.
 */
export function usableWindow(
  window: Pick<SendWindow, 'start' | 'end'>,
  now: Date,
  minLeadMs = 0,
  tailMarginMs = 0,
): { start: Date; end: Date } {
  const earliest = now.getTime() + minLeadMs;
  return {
    start: new Date(Math.max(window.start.getTime(), earliest)),
    end: new Date(window.end.getTime() - tailMarginMs),
  };
}
