import { IANAZone } from 'luxon';

/** A zone name checked and spelled by canonicalTimeZone: what subscriber rows store. */
export type TimeZone = string & { readonly __brand: 'TimeZone' };

/** Named IANA zones only: fixed offsets ("UTC+3") and abbreviations are not places subscribers live in. */
const ZONE_NAME = /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/;

/** True for a canonical or alias IANA zone name this runtime's tz database knows ("America/New_York"). */
export function isValidTimeZone(zone: string): boolean {
  return ZONE_NAME.test(zone) && IANAZone.isValidZone(zone);
}

/**
 * A word spelled as the tz database spells its names: capitalised ("Kolkata", "Port-au-Prince", "GMT+3"),
 * or a short upper-case abbreviation ("US", "UTC").
 */
const TZ_SPELLING = /^(?:[A-Z](?=[A-Za-z0-9_+-]*[a-z])[A-Za-z0-9_+-]*|[A-Z]{1,3}[0-9+-]*)$/;

/**
 * The name to store for a zone someone typed, or null when it is not one. The runtime's own name when
 * they differ only in case (`asia/tokyo` → `Asia/Tokyo`), so one zone is one spelling everywhere. A link
 * (alias) spelled as the tz database spells it is kept as chosen (`US/Eastern`, and `Asia/Kolkata`, which
 * ICU would call `Asia/Calcutta`); any other spelling of a link becomes the runtime's name for its zone
 * (`us/eastern` → `America/New_York`).
 */
export function canonicalTimeZone(input: string): TimeZone | null {
  const zone = input.trim();
  if (!isValidTimeZone(zone)) return null;
  const named = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  if (named.toLowerCase() === zone.toLowerCase()) return named as TimeZone;
  return (zone.split('/').every((word) => TZ_SPELLING.test(word)) ? zone : named) as TimeZone;
}
