// Which planned deliveries a time zone change keeps, against offsets known by hand: a kept one is inside
// the new zone's window on the same local date; every other one is cancelled.
import { describe, expect, it } from 'vitest';
import { InvalidTimeZone } from '../../src/domain/send-window.js';
import { sortByZoneChange, windowAfterZoneChange } from '../../src/domain/zone-change.js';

const noonToFive = { startMinute: 12 * 60, endMinute: 17 * 60 };

describe('windowAfterZoneChange (12:00–17:00 local)', () => {
  it.each([
    // local date, planned instant (UTC), new zone, new window start–end (UTC) or null, why
    [
      '2026-06-10',
      '2026-06-10T14:06:00Z',
      'Europe/Dublin',
      '2026-06-10T11:00:00.000Z–2026-06-10T16:00:00.000Z',
      'London 15:06 BST is Dublin 15:06 IST',
    ],
    [
      '2026-03-29',
      '2026-03-29T11:30:00Z',
      'Europe/Dublin',
      '2026-03-29T11:00:00.000Z–2026-03-29T16:00:00.000Z',
      'London → Dublin on the day both move to summer time',
    ],
    [
      '2026-06-10',
      '2026-06-10T20:30:00Z',
      'America/Chicago',
      '2026-06-10T17:00:00.000Z–2026-06-10T22:00:00.000Z',
      'New York 16:30 is Chicago 15:30',
    ],
    ['2026-06-10', '2026-06-10T16:30:00Z', 'America/Chicago', null, 'New York 12:30 is Chicago 11:30'],
    [
      '2026-06-10',
      '2026-06-10T20:59:00Z',
      'America/New_York',
      '2026-06-10T16:00:00.000Z–2026-06-10T21:00:00.000Z',
      'Chicago 15:59 is New York 16:59',
    ],
    ['2026-06-10', '2026-06-10T21:00:00Z', 'America/New_York', null, 'Chicago 16:00 is New York 17:00 (end)'],
    ['2026-06-10', '2026-06-10T05:00:00Z', 'America/New_York', null, 'Tokyo 14:00 is New York 01:00'],
    [
      '2026-06-10',
      '2026-06-11T00:00:00Z',
      'Pacific/Kiritimati',
      null,
      'Honolulu 14:00 is Kiritimati 14:00, the next day',
    ],
    [
      '2026-06-10',
      '2026-06-10T02:15:00Z',
      'Australia/Sydney',
      '2026-06-10T02:00:00.000Z–2026-06-10T07:00:00.000Z',
      'Lord Howe 12:45 (+10:30) is Sydney 12:15 (+10)',
    ],
    ['2026-06-10', '2026-06-10T01:45:00Z', 'Australia/Sydney', null, 'Lord Howe 12:15 is Sydney 11:45'],
    [
      '2026-06-10',
      '2026-06-10T19:30:00Z',
      'America/Denver',
      '2026-06-10T18:00:00.000Z–2026-06-10T23:00:00.000Z',
      'Phoenix 12:30 (no DST) is Denver 13:30 in summer',
    ],
    ['2026-06-10', '2026-06-10T23:30:00Z', 'America/Denver', null, 'Phoenix 16:30 is Denver 17:30'],
  ])('%s at %s, moved to %s → %s (%s)', (localDate, at, zone, expected, _why) => {
    const kept = windowAfterZoneChange({ localDate, plannedAt: new Date(at) }, zone, noonToFive);
    expect(kept && `${kept.start.toISOString()}–${kept.end.toISOString()}`).toBe(expected);
    if (kept) expect(kept).toMatchObject({ localDate, timeZone: zone });
  });

  it('judges by the window it is given, not 12:00–17:00', () => {
    // London 16:30 BST is New York 11:30: outside 12–17 there, inside 09:00–21:00.
    const delivery = { localDate: '2026-06-10', plannedAt: new Date('2026-06-10T15:30:00Z') };
    expect(windowAfterZoneChange(delivery, 'America/New_York', noonToFive)).toBeNull();
    expect(
      windowAfterZoneChange(delivery, 'America/New_York', { startMinute: 9 * 60, endMinute: 21 * 60 }),
    ).toMatchObject({ start: new Date('2026-06-10T13:00:00Z'), end: new Date('2026-06-11T01:00:00Z') });
  });

  it('refuses a zone that is not one', () => {
    const delivery = { localDate: '2026-06-10', plannedAt: new Date('2026-06-10T14:00:00Z') };
    expect(() => windowAfterZoneChange(delivery, 'BST', noonToFive)).toThrow(InvalidTimeZone);
  });
});

describe('sortByZoneChange', () => {
  it('keeps those that fit with their new window and cancels the rest, each in the order given', () => {
    // London → Paris (an hour ahead): 12:30 BST is 13:30 CEST; 16:30 BST is 17:30 CEST.
    const planned = [
      { id: 'a', localDate: '2026-06-10', plannedAt: new Date('2026-06-10T11:30:00Z') },
      { id: 'b', localDate: '2026-06-11', plannedAt: new Date('2026-06-11T15:30:00Z') },
      { id: 'c', localDate: '2026-06-12', plannedAt: new Date('2026-06-12T13:00:00Z') },
    ];
    const { keep, cancel } = sortByZoneChange(planned, 'Europe/Paris', noonToFive);
    expect(keep.map((k) => [k.delivery.id, k.window.start.toISOString()])).toEqual([
      ['a', '2026-06-10T10:00:00.000Z'],
      ['c', '2026-06-12T10:00:00.000Z'],
    ]);
    expect(cancel.map((d) => d.id)).toEqual(['b']);
  });
});
