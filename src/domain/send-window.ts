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
function checkZone(zone: string): void {
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
  return DateTime.fromJSDate(instant, { zone: timeZone }).toISODate() as string;
}

/** 'YYYY-MM-DD' plus `days` (calendar arithmetic, no zone involved). */
export function addDays(localDate: string, days: number): string {
  return DateTime.fromISO(localDate, { zone: 'UTC' }).plus({ days }).toISODate() as string;
}
