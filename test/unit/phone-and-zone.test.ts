import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskPhone, parseE164, storedE164 } from '../../src/domain/phone.js';
import { canonicalTimeZone, isValidTimeZone } from '../../src/domain/time-zone.js';

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

  // The separators people write a number with are accepted: space, dash, dot, parentheses.
  it.each([
    ['+1-415-555-0123', '+14155550123'],
    ['+1.415.555.0123', '+14155550123'],
    ['+(1) 415 555 0123', '+14155550123'],
  ])('accepts the formatted %j as %s', (input, expected) => expect(parseE164(input)).toBe(expected));

  // Anything else is refused, never read around: libphonenumber would find a number in each of these and
  // drop the rest, and DELETE /api/subscribers/:phone would opt that number out.
  it.each([
    ['call +14155550117 now'],
    ['+14155550117abc'],
    ['+14155550187 ext. 5'],
    ['+14155550187 x5'],
    ['+14155550123;ext=5'],
    ['+1 415 555 0189 (mobile)'],
    ['+14155550188 is wrong, do not touch'],
    ['tel:+14155550123'],
    ['+1 415–555–0123'], // en dashes
    ['+１４１５５５５０１２３'], // full-width digits
    ['+44 (0)20 7946 0958'], // the (0) would be dropped: every digit typed must be in the number
    ['+1 415 555 0123\u0000'],
    ['++14155550123'],
  ])('refuses %j', (input) => expect(parseE164(input)).toBeNull());

  const VALID = ['+14155550123', '+442079460958', '+919876543210', '+61412345678', '+5511987654321'];
  const separators = fc.constantFrom(' ', '-', '.', '(', ')', '');

  it('reads a valid number back whatever the usual separators between its digits', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID),
        fc.array(separators, { minLength: 16, maxLength: 16 }),
        (e164, seps) => {
          const formatted = `+${[...e164.slice(1)].map((d, i) => d + (seps[i] ?? '')).join('')}`;
          expect(parseE164(formatted)).toBe(e164);
        },
      ),
    );
  });

  it('refuses a valid number with any other character inserted anywhere after the +', () => {
    const other = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((ch) => !/[0-9 ().-]/.test(ch) && ch.trim() !== '');
    fc.assert(
      fc.property(fc.constantFrom(...VALID), fc.nat(), other, (e164, at, ch) => {
        const i = 1 + (at % e164.length);
        expect(parseE164(e164.slice(0, i) + ch + e164.slice(i))).toBeNull();
      }),
    );
  });
});

describe('storedE164', () => {
  it('takes what the database CHECK admits, valid today or not, and refuses anything else without the number', () => {
    expect(storedE164('+14155550123')).toBe('+14155550123');
    expect(storedE164('+1999000')).toBe('+1999000'); // not a valid number, but the stored shape
    for (const bad of ['14155550123', '+0123456789', '+1 415 555 0123', '+1234567890123456', '']) {
      expect(() => storedE164(bad)).toThrow(/is not in E\.164 form/);
    }
    expect(() => storedE164('4155550123')).toThrow(/\*\*\*0123/);
  });
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

/** Zone and link names of the tz database this machine has (Debian's tzdata), when it has one. */
function tzdataNames(): string[] | undefined {
  const file = '/usr/share/zoneinfo/tzdata.zi';
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const [kind, a, b] = line.split(' ');
      return kind === 'Z' ? [a as string] : kind === 'L' ? [b as string] : [];
    });
}

describe('isValidTimeZone: the IANA tz database, not whatever ICU also accepts', () => {
  // ICU knows old Java three-letter IDs that are not IANA names and mean other places than people mean by
  // them: BST is Dhaka to ICU (British Summer Time to a Londoner), NST is Auckland (Newfoundland), …
  it.each([
    'BST',
    'bst',
    'IST',
    'NST',
    'SST',
    'ECT',
    'ART',
    'CST',
    'PST',
    'AET',
    'ACT',
    'CAT',
    'EAT',
    'JST',
    'MIT',
    'NET',
    'PLT',
    'PNT',
    'PRT',
    'VST',
    'AGT',
    'BET',
    'CNT',
    'CTT',
    'SystemV/EST5EDT',
    'Factory',
  ])('refuses %j', (zone) => {
    expect(isValidTimeZone(zone)).toBe(false);
    expect(canonicalTimeZone(zone)).toBeNull();
  });

  it.each([
    ['EST5EDT', 'EST5EDT'],
    ['gb-eire', 'GB-Eire'],
    ['NZ-CHAT', 'NZ-CHAT'],
    ['W-SU', 'W-SU'],
    ['GMT0', 'GMT0'],
    ['Japan', 'Japan'],
    ['EST', 'EST'],
  ])('accepts the IANA name %j, stored as %j', (input, stored) => {
    expect(isValidTimeZone(input)).toBe(true);
    expect(canonicalTimeZone(input)).toBe(stored);
  });

  const names = tzdataNames();
  it.skipIf(!names)(
    'accepts every zone and link name of tzdata.zi the runtime knows, and nothing else without a "/"',
    () => {
      if (!names) return;
      const knownToRuntime = names.filter((zone) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: zone });
          return zone !== 'Factory';
        } catch {
          return false;
        }
      });
      expect(knownToRuntime.length).toBeGreaterThan(500);
      expect(knownToRuntime.filter((zone) => !isValidTimeZone(zone))).toEqual([]);
      const single = new Set(names.filter((zone) => !zone.includes('/')));
      for (const zone of ['BST', 'NST', 'IST', 'CST', 'PST']) expect(single.has(zone)).toBe(false);
    },
  );
  if (!names) console.log('skipped: /usr/share/zoneinfo/tzdata.zi is not on this machine (install tzdata)');
});

describe('canonicalTimeZone', () => {
  it.each([
    ['asia/tokyo', 'Asia/Tokyo'],
    ['AMERICA/NEW_YORK', 'America/New_York'],
    ['america/port-au-prince', 'America/Port-au-Prince'],
    ['America/Argentina/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
    [' Europe/Paris ', 'Europe/Paris'],
    ['utc', 'UTC'],
    ['etc/gmt+3', 'Etc/GMT+3'],
    // A link spelled as the tz database spells it is the operator's choice and is kept…
    ['US/Eastern', 'US/Eastern'],
    ['Asia/Kolkata', 'Asia/Kolkata'],
    // …any other spelling of one becomes the runtime's name for that zone.
    ['us/eastern', 'America/New_York'],
  ])('stores %j as %j', (input, stored) => expect(canonicalTimeZone(input)).toBe(stored));

  it.each([['Mars/Olympus'], ['UTC+3'], ['+05:30'], [''], ['EST5EDT; DROP TABLE']])('refuses %j', (input) =>
    expect(canonicalTimeZone(input)).toBeNull(),
  );
});
