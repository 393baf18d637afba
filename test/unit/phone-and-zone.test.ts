import { describe, expect, it } from 'vitest';
import { maskPhone, parseE164 } from '../../src/domain/phone.js';
import { isValidTimeZone } from '../../src/domain/time-zone.js';

describe('parseE164', () => {
  it.each([
    ['+14155550123', '+14155550123'],
    ['+1 (415) 555-0123', '+14155550123'],
    [' +44 7911 123456 ', '+447911123456'],
    ['+919876543210', '+919876543210'],
  ])('accepts %j as %s', (input, expected) => expect(parseE164(input)).toBe(expected));

  it.each([['4155550123'], ['+1415555'], ['hello'], [''], ['+999123456789']])('rejects %j', (input) =>
    expect(parseE164(input)).toBeNull(),
  );
});

describe('maskPhone', () => {
  it('keeps only the last four digits', () => {
    expect(maskPhone('+14155550123')).toBe('***0123');
    expect(maskPhone(undefined)).toBe('(none)');
  });
});

describe('isValidTimeZone', () => {
  it.each([
    ['America/New_York', true],
    ['Australia/Lord_Howe', true],
    ['Asia/Kolkata', true],
    ['Pacific/Kiritimati', true],
    ['America/Argentina/Buenos_Aires', true],
    ['UTC', true],
    ['Mars/Olympus_Mons', false],
    ['EST5EDT; DROP TABLE', false],
    ['+05:30', false],
    ['', false],
  ])('%j → %s', (zone, valid) => expect(isValidTimeZone(zone)).toBe(valid));
});
