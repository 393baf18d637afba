// Send windows on DST days and in half-hour and far-from-UTC zones, against offsets known by hand.
import { describe, expect, it } from 'vitest';
import {
  addDays,
  InvalidTimeZone,
  localDateAt,
  sendWindowOn,
  utcMidnight,
} from '../../src/domain/send-window.js';

const noonToFive = { startMinute: 12 * 60, endMinute: 17 * 60 };

describe('sendWindowOn (12:00–17:00 local)', () => {
  it.each([
    // zone, local date, UTC start, UTC end, why
    [
      'America/New_York',
      '2026-03-07',
      '2026-03-07T17:00:00.000Z',
      '2026-03-07T22:00:00.000Z',
      'EST, day before',
    ],
    [
      'America/New_York',
      '2026-03-08',
      '2026-03-08T16:00:00.000Z',
      '2026-03-08T21:00:00.000Z',
      'spring forward (23 h day)',
    ],
    [
      'America/New_York',
      '2026-10-31',
      '2026-10-31T16:00:00.000Z',
      '2026-10-31T21:00:00.000Z',
      'EDT, day before',
    ],
    [
      'America/New_York',
      '2026-11-01',
      '2026-11-01T17:00:00.000Z',
      '2026-11-01T22:00:00.000Z',
      'fall back (25 h day)',
    ],
    ['Europe/London', '2026-03-28', '2026-03-28T12:00:00.000Z', '2026-03-28T17:00:00.000Z', 'GMT'],
    ['Europe/London', '2026-03-29', '2026-03-29T11:00:00.000Z', '2026-03-29T16:00:00.000Z', 'BST starts'],
    ['Europe/London', '2026-10-24', '2026-10-24T11:00:00.000Z', '2026-10-24T16:00:00.000Z', 'BST'],
    ['Europe/London', '2026-10-25', '2026-10-25T12:00:00.000Z', '2026-10-25T17:00:00.000Z', 'GMT again'],
    [
      'Australia/Lord_Howe',
      '2026-04-04',
      '2026-04-04T01:00:00.000Z',
      '2026-04-04T06:00:00.000Z',
      '+11 (DST)',
    ],
    [
      'Australia/Lord_Howe',
      '2026-04-05',
      '2026-04-05T01:30:00.000Z',
      '2026-04-05T06:30:00.000Z',
      'half-hour back to +10:30',
    ],
    ['Australia/Lord_Howe', '2026-10-03', '2026-10-03T01:30:00.000Z', '2026-10-03T06:30:00.000Z', '+10:30'],
    [
      'Australia/Lord_Howe',
      '2026-10-04',
      '2026-10-04T01:00:00.000Z',
      '2026-10-04T06:00:00.000Z',
      'half-hour forward to +11',
    ],
    ['Asia/Kolkata', '2026-03-08', '2026-03-08T06:30:00.000Z', '2026-03-08T11:30:00.000Z', '+05:30, no DST'],
    ['Asia/Kolkata', '2026-11-01', '2026-11-01T06:30:00.000Z', '2026-11-01T11:30:00.000Z', '+05:30, no DST'],
    [
      'Pacific/Kiritimati',
      '2026-01-01',
      '2025-12-31T22:00:00.000Z',
      '2026-01-01T03:00:00.000Z',
      '+14: starts the UTC day before',
    ],
    [
      'Pacific/Kiritimati',
      '2026-03-08',
      '2026-03-07T22:00:00.000Z',
      '2026-03-08T03:00:00.000Z',
      '+14 across UTC midnight',
    ],
  ])('%s on %s → %s … %s (%s)', (zone, date, start, end) => {
    const w = sendWindowOn(zone, date, noonToFive);
    expect(w.start.toISOString()).toBe(start);
    expect(w.end.toISOString()).toBe(end);
    expect(w).toMatchObject({ localDate: date, timeZone: zone });
  });

  it('honours a configured window (09:30–10:15)', () => {
    const w = sendWindowOn('Asia/Kolkata', '2026-06-01', { startMinute: 570, endMinute: 615 });
    expect([w.start.toISOString(), w.end.toISOString()]).toEqual([
      '2026-06-01T04:00:00.000Z',
      '2026-06-01T04:45:00.000Z',
    ]);
  });

  it.each(['Mars/Olympus', 'EST5EDT+1', '', 'UTC+3'])('refuses the time zone %j', (zone) => {
    expect(() => sendWindowOn(zone, '2026-06-01', noonToFive)).toThrow(InvalidTimeZone);
  });

  it('refuses a date that does not exist', () => {
    expect(() => sendWindowOn('Europe/London', '2026-02-30', noonToFive)).toThrow(RangeError);
  });
});

describe('localDateAt', () => {
  it.each([
    ['Pacific/Kiritimati', '2026-03-07T10:00:00Z', '2026-03-08'],
    ['Pacific/Pago_Pago', '2026-03-07T10:00:00Z', '2026-03-06'],
    ['Asia/Kolkata', '2026-03-07T18:29:59Z', '2026-03-07'],
    ['Asia/Kolkata', '2026-03-07T18:30:00Z', '2026-03-08'],
  ])('in %s at %s it is %s', (zone, instant, date) => {
    expect(localDateAt(zone, new Date(instant))).toBe(date);
  });
});

describe('addDays and utcMidnight (calendar arithmetic, no zone)', () => {
  it.each([
    ['2026-01-31', 1, '2026-02-01'],
    ['2026-02-28', 1, '2026-03-01'],
    ['2028-02-28', 1, '2028-02-29'],
    ['2026-12-31', 1, '2027-01-01'],
    ['2026-03-01', -1, '2026-02-28'],
    ['2026-01-01', -2, '2025-12-30'],
    ['2026-03-08', 0, '2026-03-08'],
    ['2026-01-01', 365, '2027-01-01'],
  ])('%s plus %i days is %s', (date, days, expected) => {
    expect(addDays(date, days)).toBe(expected);
  });

  it('gives midnight UTC of a date, and refuses what is not one', () => {
    expect(utcMidnight('2026-03-08')).toBe(Date.parse('2026-03-08T00:00:00Z'));
    for (const bad of ['2026-02-30', '2026-13-01', '2026-3-8', '', 'tomorrow'])
      expect(() => addDays(bad, 1), bad).toThrow(RangeError);
  });
});
