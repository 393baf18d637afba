// The calendar dates the API and the CLI accept (src/domain/calendar-date.ts): every day Postgres and JS
// Date both hold, in YYYY-MM-DD, and nothing else; the schema and the predicate the services use agree.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CALENDAR_DATE_RULE, CalendarDateField, isCalendarDate } from '../../src/domain/calendar-date.js';

const digits = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });

describe('isCalendarDate', () => {
  it.each([['0001-01-01'], ['9999-12-31'], ['2024-02-29'], ['2000-02-29'], ['1970-01-01']])(
    'accepts %j',
    (d) => expect(isCalendarDate(d)).toBe(true),
  );

  it.each([
    ['0000-01-01'], // Postgres has no year 0
    ['0000-02-29'],
    ['10000-01-01'],
    ['-0001-01-01'],
    ['+002026-01-01'],
    ['2026-02-30'],
    ['2100-02-29'],
    ['2026-13-01'],
    ['2026-1-01'],
    ['2026-01-01T00:00:00Z'],
    [' 2026-01-01'],
    [''],
  ])('refuses %j', (d) => expect(isCalendarDate(d)).toBe(false));

  it('accepts every day from 0001-01-01 to 9999-12-31', () => {
    const day = fc.date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(day, (d) => {
        expect(isCalendarDate(d.toISOString().slice(0, 10))).toBe(true);
      }),
    );
  });

  it('the schema accepts exactly what isCalendarDate does, with one message', () => {
    const shaped = fc.tuple(digits(4), digits(2), digits(2)).map(([y, m, d]) => `${y}-${m}-${d}`);
    fc.assert(
      fc.property(fc.oneof(shaped, fc.string()), (value) => {
        const parsed = CalendarDateField.safeParse(value);
        expect(parsed.success).toBe(isCalendarDate(value));
        if (!parsed.success) expect(parsed.error.issues.map((i) => i.message)).toEqual([CALENDAR_DATE_RULE]);
      }),
      { numRuns: 2000 },
    );
  });
});
