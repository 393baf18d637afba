import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** A phone number in E.164 form, checked by libphonenumber. */
export type E164 = string & { readonly __brand: 'E164' };

/**
 * What a typed number may look like: a +, then digits and the separators people write between them
 * (space, dash, dot, parentheses), ASCII only. libphonenumber on its own finds a number inside any text
 * ("call +14155550117 now") and drops an extension ("… ext. 5"); the number must be all that was typed.
 */
const TYPED_NUMBER = /^\+[0-9 ().-]+$/;

/**
 * Parses user input ("+1 (415) 555-0123") into E.164, or returns null when it is anything but a valid
 * number: other text, an extension, or a digit libphonenumber would drop (a trunk prefix such as "(0)").
 */
export function parseE164(input: string): E164 | null {
  const typed = input.trim();
  if (!TYPED_NUMBER.test(typed)) return null;
  const parsed = parsePhoneNumberFromString(typed);
  if (!parsed?.isValid() || parsed.ext) return null;
  if (parsed.number !== `+${typed.replaceAll(/[^0-9]/g, '')}`) return null;
  return parsed.number as E164;
}

/** E.164's shape, as the database's CHECK on every phone column spells it (and settings and Twilio's fields are checked). */
export const E164_SHAPE = /^\+[1-9][0-9]{6,14}$/;

/**
 * A number read back from storage. Its shape is checked, not its validity: the number was valid when it
 * was stored, and a newer libphonenumber must not turn a subscriber's stored number into a refusal.
 */
export function storedE164(phone: string): E164 {
  if (!E164_SHAPE.test(phone))
    throw new Error(`stored phone number ${maskPhone(phone)} is not in E.164 form`);
  return phone as E164;
}

/** For logs: never the whole number. "+14155550123" → "***0123". */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '(none)';
  return `***${phone.slice(-4)}`;
}
