// What a subscriber's phone, time zone and name must be, and the words for each refusal: one definition
// for the API, the CLI and the dev page, so all three accept the same input, store it the same way
// (E.164, the canonical zone name, a trimmed name) and say the same thing about what they refuse.
import * as z from 'zod';
import { parseE164 } from './phone.js';
import { canonicalTimeZone, type TimeZone } from './time-zone.js';

/** The subscribers table's limit (CHECK char_length(name) BETWEEN 1 AND 50). */
export const NAME_MAX_LENGTH = 50;
/** Form limits: room for a formatted number ("+1 (415) 555-0123") and for the longest zone names. */
export const PHONE_INPUT_MAX_LENGTH = 32;
export const TIME_ZONE_MAX_LENGTH = 64;

export const FIELD_RULES = {
  phone: 'must be a valid phone number in E.164 form, such as +14155550123',
  timeZone: 'must be an IANA time zone such as America/New_York',
  nameEmpty: 'must not be empty',
  nameTooLong: `must be at most ${NAME_MAX_LENGTH} characters`,
} as const;

export const PhoneField = z.string({ error: FIELD_RULES.phone }).transform((value, ctx) => {
  const phone = parseE164(value);
  if (!phone) {
    ctx.addIssue({ code: 'custom', message: FIELD_RULES.phone });
    return z.NEVER;
  }
  return phone;
});

export const TimeZoneField = z.string({ error: FIELD_RULES.timeZone }).transform((value, ctx): TimeZone => {
  const zone = value.length <= TIME_ZONE_MAX_LENGTH ? canonicalTimeZone(value) : null;
  if (!zone) {
    ctx.addIssue({ code: 'custom', message: FIELD_RULES.timeZone });
    return z.NEVER;
  }
  return zone;
});

/** Spaces, and the invisible characters a paste brings along (zero-width space, word joiner, BOM). */
const NAME_EDGES = /^[\s\u200b\u2060\ufeff]+|[\s\u200b\u2060\ufeff]+$/g;
/**
 * Refused anywhere in a name: C0 and C1 controls and DEL (a NUL fails in Postgres, the rest garble the CLI
 * and the dev page), and the bidi embeddings, overrides and isolates, which reorder the text after them.
 */
const NAME_CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
/** Half of a surrogate pair without its other half: not a character, and Postgres would store U+FFFD. */
const LONE_SURROGATE = /\p{Cs}/u;
/** What a name shows: anything but whitespace and default-ignorable code points (ZWJ, ZWSP, selectors…). */
const VISIBLE = /[^\s\p{Default_Ignorable_Code_Point}]/u;

const codePoint = (ch: string) => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with a trimmed, non-empty name, or null. */
function nameProblem(name: string): string | null {
  const surrogate = LONE_SURROGATE.exec(name)?.[0];
  if (surrogate) return `must be valid Unicode text (found a lone surrogate ${codePoint(surrogate)})`;
  const control = NAME_CONTROL.exec(name)?.[0];
  if (control) return `must not contain control characters (found ${codePoint(control)})`;
  if (!VISIBLE.test(name)) return FIELD_RULES.nameEmpty;
  return null;
}

/**
 * A name: trimmed of spaces and invisible paste junk; refused with a control character or a lone surrogate
 * anywhere (the operator must see what they sent, not a silently different name); refused when nothing
 * visible is left. Zero-width joiners, non-joiners and variation selectors inside are kept: emoji
 * sequences and Persian or Indic words need them.
 */
export const NameField = z
  .string({ error: 'must be text' })
  .overwrite((name) => name.replaceAll(NAME_EDGES, ''))
  .min(1, FIELD_RULES.nameEmpty)
  .max(NAME_MAX_LENGTH, FIELD_RULES.nameTooLong)
  .check((ctx) => {
    const problem = ctx.value === '' ? null : nameProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });

/** "field: what is wrong" for every problem, joined with "; ". Field names are the API's. */
export function describeProblems(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
      const field = issue.path.join('.');
      return field ? `${field}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Input that breaks a rule above; the message is describeProblems'. */
export class InvalidSubscriberInput extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSubscriberInput';
  }
}

/** Parses with one of the schemas built from the fields above, or throws InvalidSubscriberInput. */
export function parseSubscriberInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new InvalidSubscriberInput(describeProblems(parsed.error));
  return parsed.data;
}
