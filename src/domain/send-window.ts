// A subscriber's send window (e.g. 12:00–17:00 local) for one local date, as UTC instants. Luxon does the
// zone arithmetic from the runtime's tz database, so DST days, half-hour and far-from-UTC zones are exact.
import { DateTime, IANAZone } from 'luxon';
import { isValidTimeZone } from './time-zone.js';

export interface WindowMinutes {
  /** Minutes after local midnight, e.g. 720 for 12:00. */
  startMinute: number;
  endMinute: number;
}

export interface SendWindow {
  localDate: string;
  timeZone: string;
  start: Date;
  end: Date;
}

export class InvalidTimeZone extends Error {
  constructor(readonly timeZone: string) {
    super(`not an IANA time zone: ${JSON.stringify(timeZone)}`);
    this.name = 'InvalidTimeZone';
  }
}

const LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

// Checking a zone builds an Intl formatter (~0.4 ms); a planner run asks about the same few zones often.
const knownZones = new Map<string, boolean>();
/** Throws InvalidTimeZone unless `zone` is an IANA zone (cached: cheap to ask again). */
export function checkZone(zone: string): void {
  let valid = knownZones.get(zone);
  if (valid === undefined) {
    valid = isValidTimeZone(zone);
    if (knownZones.size < 10_000) knownZones.set(zone, valid);
  }
  if (!valid) throw new InvalidTimeZone(zone);
}

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/**
 * The instant `minuteOfDay` names on `localDate` in `zone`. A wall time that happens twice (fall-back)
 * is the earlier instant; one that does not happen (spring-forward gap) is the first instant after the
 * gap, so a window's end in a gap ends it where the gap starts. Decided from the zone's offsets alone, never
 * from today's date (luxon's fromObject guesses from the current offset, and threw for a gap that crosses
 * midnight, as America/Nuuk's at 23:00 does).
 */
function localTime(zone: string, localDate: string, minuteOfDay: number): number {
  const wall = utcMidnight(localDate) + minuteOfDay * MINUTE_MS;
  const tz = IANAZone.create(zone);
  const offsetAt = (instant: number) => tz.offset(instant) * MINUTE_MS;
  // The offsets in force a day either side cover any clock change near this wall time.
  const before = offsetAt(wall - DAY_MS);
  const after = offsetAt(wall + DAY_MS);
  const exact = [wall - before, wall - after].filter((t) => wall - offsetAt(t) === t);
  if (exact.length > 0) return Math.min(...exact);
  // In the gap: the clock jumps from before `wall` to after it between these two instants; find the jump.
  let lo = Math.min(wall - before, wall - after);
  let hi = Math.max(wall - before, wall - after);
  const offsetBefore = offsetAt(lo);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid) === offsetBefore) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The window on `localDate` ('YYYY-MM-DD') in `timeZone`, as UTC instants. */
export function sendWindowOn(timeZone: string, localDate: string, window: WindowMinutes): SendWindow {
  checkZone(timeZone);
  const start = localTime(timeZone, localDate, window.startMinute);
  const end = localTime(timeZone, localDate, window.endMinute);
  return { localDate, timeZone, start: new Date(start), end: new Date(end) };
}

/** The calendar date at `instant` in `timeZone`. */
export function localDateAt(timeZone: string, instant: Date): string {
  checkZone(timeZone);
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  if (!local.isValid) throw new RangeError(`not a valid instant: ${String(instant)}`);
  return local.toISODate();
}

/**
 * Midnight UTC of `localDate` ('YYYY-MM-DD'), in ms. Plain Date arithmetic: calendar dates need no zone
 * database, and luxon costs a hundred times more in the planner's loops. Throws RangeError.
 */
export function utcMidnight(localDate: string): number {
  const [year, month, day] = (LOCAL_DATE.exec(localDate) ?? []).slice(1).map(Number);
  const ms = Date.UTC(year as number, (month as number) - 1, day);
  // Date.UTC rolls 2026-02-30 over to March and month 13 into the next year: a date must come back as given.
  const back = new Date(ms);
  if (day === undefined || back.getUTCDate() !== day || back.getUTCMonth() !== (month as number) - 1)
    throw new RangeError(`not a date: ${localDate}`);
  return ms;
}

/** 'YYYY-MM-DD' plus `days` (calendar arithmetic, no zone involved). Throws RangeError. */
export function addDays(localDate: string, days: number): string {
  return new Date(utcMidnight(localDate) + days * 86_400_000).toISOString().slice(0, 10);
}
