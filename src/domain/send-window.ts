// A subscriber's send window (e.g. 12:00–17:00 local) for one local date, as UTC instants. Luxon does the
// zone arithmetic from the runtime's tz database, so DST days, half-hour and far-from-UTC zones are exact.
import { DateTime } from 'luxon';
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

function localTime(zone: string, localDate: string, minuteOfDay: number): DateTime {
  const [year, month, day] = (LOCAL_DATE.exec(localDate) ?? []).slice(1).map(Number);
  // fromObject resolves a wall time that does not exist (inside a spring-forward gap) to the instant just
  // after the gap, and an ambiguous one (fall-back) to the earlier offset: both are real instants.
  const t = DateTime.fromObject(
    { year, month, day, hour: Math.floor(minuteOfDay / 60), minute: minuteOfDay % 60 },
    { zone },
  );
  if (day === undefined || !t.isValid || t.day !== day) throw new RangeError(`not a date: ${localDate}`);
  return t;
}

/** The window on `localDate` ('YYYY-MM-DD') in `timeZone`, as UTC instants. */
export function sendWindowOn(timeZone: string, localDate: string, window: WindowMinutes): SendWindow {
  checkZone(timeZone);
  const start = localTime(timeZone, localDate, window.startMinute);
  const end = localTime(timeZone, localDate, window.endMinute);
  return { localDate, timeZone, start: start.toJSDate(), end: end.toJSDate() };
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
