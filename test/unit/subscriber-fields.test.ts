// A subscriber's name as the API, the CLI and the dev page take it (NameField): what is refused, what is
// cleaned, what is kept. A NUL reached Postgres and failed the request with a 500; other controls, lone
// surrogates and names of nothing but invisible characters were stored as sent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { describeProblems, NameField } from '../../src/domain/subscriber-fields.js';

const Name = z.object({ name: NameField });
/** The stored name, or the 400's words. */
function parseName(name: string): { name: string } | { error: string } {
  const parsed = Name.safeParse({ name });
  return parsed.success ? { name: parsed.data.name } : { error: describeProblems(parsed.error) };
}

const controlChar = fc
  .oneof(fc.integer({ min: 0x00, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }))
  .map((cp) => String.fromCodePoint(cp));
const hex = (ch: string) => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
/** Names people have: letters of any script, marks, emoji, spaces inside. */
const plainName = fc
  .string({
    unit: fc.constantFrom('A', 'n', 'a', 'é', 'ß', 'Ж', 'ש', 'ع', '李', '😀', 'ñ', ' ', "'", '-'),
    minLength: 1,
    maxLength: 20,
  })
  .filter((s) => /\p{L}/u.test(s));

describe('NameField', () => {
  it.each([
    ['Ana', 'Ana'],
    ['  Ana María  ', 'Ana María'],
    ['\u200bAna\ufeff', 'Ana'], // invisible junk from a paste is trimmed with the spaces
    ['Ana\u2060', 'Ana'],
    ['👨\u200d👩\u200d👧', '👨\u200d👩\u200d👧'], // a ZWJ inside a sequence is part of it
    ['Ana ❤\ufe0f', 'Ana ❤\ufe0f'], // so is a variation selector
    ['می\u200cخواهم', 'می\u200cخواهم'], // and a ZWNJ inside a Persian word
    ['שרה\u200f', 'שרה\u200f'], // a right-to-left mark is a letter's direction, kept
    ['Ana\n', 'Ana'], // an edge newline is whitespace, trimmed
  ])('stores %j as %j', (input, stored) => expect(parseName(input)).toEqual({ name: stored }));

  it.each([
    ['Ana\u0000', 'name: must not contain control characters (found U+0000)'],
    ['a\u0007b\u001bc', 'name: must not contain control characters (found U+0007)'],
    ['Ana\nMaría', 'name: must not contain control characters (found U+000A)'],
    ['Ana\u0085', 'name: must not contain control characters (found U+0085)'],
    ['Ana\u007f', 'name: must not contain control characters (found U+007F)'],
    ['Ana\u202eanA', 'name: must not contain control characters (found U+202E)'], // reverses what follows
    ['\u2066Ana', 'name: must not contain control characters (found U+2066)'],
    ['\ud800x', 'name: must be valid Unicode text (found a lone surrogate U+D800)'],
    ['x\udfff', 'name: must be valid Unicode text (found a lone surrogate U+DFFF)'],
    ['\u200b', 'name: must not be empty'],
    ['\u200b \u200d\u2060\ufe0f', 'name: must not be empty'],
    ['   ', 'name: must not be empty'],
  ])('refuses %j: %s', (input, error) => expect(parseName(input)).toEqual({ error }));

  it('refuses any name with a control character inside, naming it', () => {
    fc.assert(
      fc.property(plainName, fc.nat(), controlChar, (name, at, ch) => {
        const chars = [...name]; // between code points, not inside an emoji's surrogate pair
        chars.splice(at % (chars.length + 1), 0, ch);
        const typed = `A${chars.join('')}Z`;
        expect(parseName(typed)).toEqual({
          error: `name: must not contain control characters (found ${hex(ch)})`,
        });
      }),
    );
  });

  it('refuses any name holding a lone surrogate', () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((cp) => String.fromCharCode(cp));
    fc.assert(
      fc.property(plainName, lone, (name, ch) => {
        expect(parseName(`${name}${ch}`)).toMatchObject({ error: expect.stringMatching(/lone surrogate/) });
      }),
    );
  });

  it('whatever it stores is valid Unicode, free of controls, visible, and stored the same again', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (typed) => {
        const parsed = parseName(typed);
        if ('error' in parsed) return;
        expect(parsed.name).not.toMatch(/\p{Cc}|\p{Cs}|[\u202a-\u202e\u2066-\u2069]/u);
        expect(parsed.name.replaceAll(/[\s\p{Default_Ignorable_Code_Point}]/gu, '')).not.toBe('');
        expect(parseName(parsed.name)).toEqual(parsed);
      }),
      { numRuns: 2000 },
    );
  });
});
