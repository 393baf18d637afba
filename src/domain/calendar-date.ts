// A calendar date as operators type it (YYYY-MM-DD): one rule for the API's query schemas and for the
// services that hand the date to Postgres, so nothing the API accepts can fail in the database.
import * as z from 'zod';

/**
 * Four-digit years, less year 0: Postgres has no year 0 ("0000-01-01" is out of range for a date), and the
 * proleptic Gregorian calendar JS Date uses agrees with Postgres on every day from 0001-01-01 to 9999-12-31.
 */
export const CALENDAR_DATE_RULE = 'must be a calendar date YYYY-MM-DD from 0001-01-01 to 9999-12-31';

/** Whether `value` is a real day in YYYY-MM-DD between 0001-01-01 and 9999-12-31 ("2026-02-30" is not). */
export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || value < '0001-01-01') return false;
  const day = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === value;
}

/** A query or body field holding a calendar date; documented as OpenAPI's `format: date`. */
export const CalendarDateField = z.iso
  .date({ error: CALENDAR_DATE_RULE, abort: true })
  .refine(isCalendarDate, { error: CALENDAR_DATE_RULE });
