import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  countSegments,
  gsmLength,
  isGsm7,
  isSingleGsmSegment,
  normalizeForSms,
} from '../../src/domain/gsm.js';

describe('countSegments', () => {
  it.each([
    ['', 'GSM-7', 0, 0],
    ['a'.repeat(160), 'GSM-7', 160, 1],
    ['a'.repeat(161), 'GSM-7', 161, 2],
    ['a'.repeat(306), 'GSM-7', 306, 2],
    ['a'.repeat(307), 'GSM-7', 307, 3],
    ['€'.repeat(80), 'GSM-7', 160, 1],
    ['€'.repeat(81), 'GSM-7', 162, 2],
    // 152 septets then an escape pair: the pair cannot straddle parts 1 and 2.
    [`${'a'.repeat(152)}€${'a'.repeat(10)}`, 'GSM-7', 164, 2],
    ['é è ù ì ò Ç Ø å Δ ß É ¿ ¡ £ ¥ §', 'GSM-7', 31, 1],
    ['á'.repeat(70), 'UCS-2', 70, 1],
    ['á'.repeat(71), 'UCS-2', 71, 2],
    ['😀'.repeat(35), 'UCS-2', 70, 1],
    ['😀'.repeat(36), 'UCS-2', 72, 2],
    [`${'a'.repeat(134)}😀`, 'UCS-2', 136, 3], // 67 + 67 leaves the pair no room in part 2
  ])('counts %j as %s, %i units, %i segments', (text, encoding, units, segments) => {
    expect(countSegments(text)).toEqual({ encoding, units, segments });
  });

  it('counts extension characters twice', () => {
    expect(gsmLength('{[~]}|^\\€')).toBe(18);
    expect(isGsm7('{[~]}|^\\€')).toBe(true);
  });
});

describe('normalizeForSms', () => {
  it.each([
    ['“Hello”', '"Hello"'],
    ['it’s ‘fine’', "it's 'fine'"],
    ['wait…', 'wait...'],
    ['a — b – c', 'a - b - c'],
    ['non\u00a0breaking\u2009thin', 'non breaking thin'],
    ['zero\u200bwidth', 'zerowidth'],
    ['Sunny day 🌞!', 'Sunny day!'],
    ['🌻 Flowers ✨ everywhere 💛', 'Flowers everywhere'],
    ['Café olé, naïve São', 'Café olé, naive Sao'],
    ['  two\n\nlines\tand   spaces ', 'two lines and spaces'],
    ['日本語 only', 'only'],
  ])('normalizes %j to %j', (input, expected) => {
    expect(normalizeForSms(input)).toBe(expected);
  });

  // Any code point (lone surrogates included), weighted towards the characters models actually write.
  const anyChar = fc.oneof(
    fc.constantFrom(
      ...['“', '”', '‘', '’', '—', '–', '…', '\u00a0', '😀', '🌻', 'é', 'á', '€', '{', ' ', '\n', 'a'],
    ),
    fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)),
  );

  it('always yields GSM-7 text, and normalizing twice changes nothing', () => {
    fc.assert(
      fc.property(fc.string({ unit: anyChar, maxLength: 200 }), (s) => {
        const once = normalizeForSms(s);
        return isGsm7(once) && normalizeForSms(once) === once;
      }),
    );
  });

  it('never makes text longer than one segment if it started GSM-7 and short', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 160 }), (s) => {
        fc.pre(isSingleGsmSegment(s));
        return gsmLength(normalizeForSms(s)) <= gsmLength(s);
      }),
    );
  });
});
