// Valid phone numbers written the many ways they reach the service: grouped with spaces, dashes, dots or
// parentheses, then URL-encoded in part, in full or not at all (API Gateway's HTTP APIs hand the Lambda a
// decoded rawPath). For property tests of the logs: a number must not be readable in them however it came.
import fc from 'fast-check';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export interface FormattedPhone {
  e164: string;
  /** The national significant number: the digits that identify the subscriber. */
  national: string;
  /** The number as written, before any URL encoding. */
  written: string;
  /** As it sits in a path: `written` encoded one of the ways clients and gateways do. */
  encoded: string;
}

/** Country code, and a pattern of national numbers valid there (mobiles and US geographic numbers). */
const COUNTRIES: [string, RegExp][] = [
  ['1', /^[2-9][0-8]\d[2-9]\d{6}$/],
  ['44', /^7[1-9]\d{8}$/],
  ['49', /^15[1-9]\d{8}$/],
  ['33', /^[67]\d{8}$/],
  ['61', /^4\d{8}$/],
  ['34', /^6\d{8}$/],
];

const validNumber = fc
  .constantFrom(...COUNTRIES)
  .chain(([cc, shape]) => fc.stringMatching(shape).map((national) => `+${cc}${national}`))
  .filter((e164) => parsePhoneNumberFromString(e164)?.isValid() === true);

const GROUP_SEPARATORS = ['', ' ', '-', '.', '  ', ' - ', ') ('];

/** Splits the national digits into groups of 1–4 and joins them the way people write numbers. */
function written(e164: string, national: string, sizes: number[], seps: string[], parens: boolean): string {
  const cc = e164.slice(1, e164.length - national.length);
  const groups: string[] = [];
  let at = 0;
  for (let i = 0; at < national.length; i++) {
    const size = sizes[i % sizes.length] ?? 3;
    groups.push(national.slice(at, at + size));
    at += size;
  }
  const sep = (i: number) => {
    const s = seps[i % seps.length] ?? ' ';
    return s === ') (' ? ' ' : s;
  };
  const [first = '', ...rest] = groups;
  const head = parens ? `+${cc} (${first})` : `+${cc}${sep(0)}${first}`;
  return rest.reduce((out, group, i) => `${out}${sep(i + 1)}${group}`, head);
}

/** Every character but letters and digits as %XX (hex case chosen by the caller). */
function encodeAll(text: string, lower: boolean): string {
  return text.replace(/[^A-Za-z0-9]/g, (ch) => {
    const hex = `%${ch.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`;
    return lower ? hex.toLowerCase() : hex;
  });
}

const ENCODINGS = {
  /** API Gateway HTTP APIs: rawPath arrives decoded. */
  decoded: (text: string) => text,
  /** encodeURIComponent: + and spaces encoded; - . ( ) left as they are. */
  component: (text: string) => encodeURIComponent(text),
  /** curl and friends: only the + escaped, spaces as %20. */
  plusOnly: (text: string) => text.replace('+', '%2B').replaceAll(' ', '%20'),
  all: (text: string) => encodeAll(text, false),
  allLowerHex: (text: string) => encodeAll(text, true),
} as const;

export const formattedPhone: fc.Arbitrary<FormattedPhone> = fc
  .record({
    e164: validNumber,
    sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
    seps: fc.array(fc.constantFrom(...GROUP_SEPARATORS), { minLength: 1, maxLength: 4 }),
    parens: fc.boolean(),
    encoding: fc.constantFrom(...(Object.keys(ENCODINGS) as (keyof typeof ENCODINGS)[])),
  })
  .map(({ e164, sizes, seps, parens, encoding }) => {
    const national = parsePhoneNumberFromString(e164)?.nationalNumber ?? e164.slice(-9);
    const text = written(e164, national, sizes, seps, parens);
    return { e164, national, written: text, encoded: ENCODINGS[encoding](text) };
  });

/**
 * True when `text` holds `digits` in order with at most a few separators (or %XX escapes) between each: the
 * number readable however it was formatted or encoded.
 */
export function holdsDigitsInSequence(text: string, digits: string): boolean {
  const between = '(?:[^0-9%]|%[0-9A-Fa-f]{2}){0,6}';
  return new RegExp(digits.split('').join(between)).test(text);
}
