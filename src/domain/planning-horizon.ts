// Which local dates a planner run at `now` must plan. The daily quota counts per local date (see
// docs/planner.md), so a date is decided whole, for every zone at once: a run plans every local date whose
// earliest window anywhere on Earth (UTC+14) starts before `now + horizon` and whose latest (UTC−12) has
// not ended. With a daily run and a horizon longer than 24 h consecutive runs overlap, so no date falls
// between two runs (even when a run is a little late or a local day is 23 or 25 hours long), and each
// date is decided before its first window opens anywhere; the overlap is what "already planned" removes.
import {
  addDays,
  checkZone,
  type SendWindow,
  sendWindowOn,
  utcMidnight,
  type WindowMinutes,
} from './send-window.js';

export interface HorizonOptions {
  window: WindowMinutes;
  /** How far ahead a run looks, in hours. Must exceed the interval between runs (24 h). */
  horizonHours: number;
  /** A window must still have this many ms left after `now` to be planned (room for the schedule). */
  minLeadMs?: number;
}

const HOUR_MS = 3_600_000;
/**
 * The earliest and the latest clocks (UTC+14, UTC−12): every other zone's window lies between theirs. Both
 * are fixed offsets with no DST, so their windows are plain arithmetic (the zone database costs ~100×).
 */
const EARLIEST_OFFSET_MS = 14 * HOUR_MS;
const LATEST_OFFSET_MS = -12 * HOUR_MS;

/** Local dates a run at `now` decides, earliest first. */
export function datesToPlan(now: Date, options: HorizonOptions): string[] {
  const utcToday = now.toISOString().slice(0, 10);
  const horizonEnd = now.getTime() + options.horizonHours * HOUR_MS;
  const earliestEnd = now.getTime() + (options.minLeadMs ?? 0);
  const dates: string[] = [];
  for (let offset = -2; offset <= Math.ceil(options.horizonHours / 24) + 2; offset++) {
    const date = addDays(utcToday, offset);
    const midnight = utcMidnight(date);
    const firstStart = midnight + options.window.startMinute * 60_000 - EARLIEST_OFFSET_MS;
    const lastEnd = midnight + options.window.endMinute * 60_000 - LATEST_OFFSET_MS;
    if (firstStart < horizonEnd && lastEnd > earliestEnd) dates.push(date);
  }
  return dates;
}

/**
 * Windows in `timeZone` a run at `now` should plan (the dates of `datesToPlan` whose window here has not
 * ended), earliest first. Throws InvalidTimeZone.
 */
export function windowsToPlan(timeZone: string, now: Date, options: HorizonOptions): SendWindow[] {
  return windowsOn(timeZone, datesToPlan(now, options), now, options);
}

/** The windows in `timeZone` on `dates` that end after `now + minLeadMs`. Throws InvalidTimeZone. */
function windowsOn(
  timeZone: string,
  dates: readonly string[],
  now: Date,
  options: Pick<HorizonOptions, 'window' | 'minLeadMs'>,
): SendWindow[] {
  checkZone(timeZone); // even when no date is asked for
  const earliestEnd = now.getTime() + (options.minLeadMs ?? 0);
  return dates
    .map((date) => sendWindowOn(timeZone, date, options.window))
    .filter((w) => w.end.getTime() > earliestEnd);
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
