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

const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;

function localTime(zone: string, localDate: string, minuteOfDay: number): DateTime {
  const day = DateTime.fromISO(localDate, { zone });
  if (!LOCAL_DATE.test(localDate) || !day.isValid) throw new RangeError(`not a date: ${localDate}`);
  // fromObject resolves a wall time that does not exist (inside a spring-forward gap) to the instant just
  // after the gap, and an ambiguous one (fall-back) to the earlier offset: both are real instants.
  return DateTime.fromObject(
    {
      year: day.year,
      month: day.month,
      day: day.day,
      hour: Math.floor(minuteOfDay / 60),
      minute: minuteOfDay % 60,
    },
    { zone },
  );
}

/** The window on `localDate` ('YYYY-MM-DD') in `timeZone`, as UTC instants. */
export function sendWindowOn(timeZone: string, localDate: string, window: WindowMinutes): SendWindow {
  if (!isValidTimeZone(timeZone)) throw new InvalidTimeZone(timeZone);
  const start = localTime(timeZone, localDate, window.startMinute);
  const end = localTime(timeZone, localDate, window.endMinute);
  return { localDate, timeZone, start: start.toJSDate(), end: end.toJSDate() };
}

/** The calendar date at `instant` in `timeZone`. */
export function localDateAt(timeZone: string, instant: Date): string {
  if (!isValidTimeZone(timeZone)) throw new InvalidTimeZone(timeZone);
  return DateTime.fromJSDate(instant, { zone: timeZone }).toISODate() as string;
}

/** 'YYYY-MM-DD' plus `days` (calendar arithmetic, no zone involved). */
export function addDays(localDate: string, days: number): string {
  return DateTime.fromISO(localDate, { zone: 'UTC' }).plus({ days }).toISODate() as string;
}
