import { IANAZone } from 'luxon';

/** True for a canonical or alias IANA zone name this runtime's tz database knows ("America/New_York"). */
export function isValidTimeZone(zone: string): boolean {
  // Fixed offsets ("UTC+3") and abbreviations are not places: subscribers live in named zones.
  return /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(zone) && IANAZone.isValidZone(zone);
}
