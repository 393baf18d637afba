import { IANAZone } from 'luxon';

/** A zone name checked and spelled by canonicalTimeZone: what subscriber rows store. */
export type TimeZone = string & { readonly __brand: 'TimeZone' };

/**
 * The tz database's names that have no area ("Japan", "EST5EDT", "GB-Eire"): its zones and links as of
 * tzdata 2025b, less "Factory" (not a place). A test compares them with the machine's tzdata.zi.
 */
const IANA_NAMES_WITHOUT_AREA = [
  'CET',
  'CST6CDT',
  'Cuba',
  'EET',
  'EST',
  'EST5EDT',
  'Egypt',
  'Eire',
  'GB',
  'GB-Eire',
  'GMT',
  'GMT+0',
  'GMT-0',
  'GMT0',
  'Greenwich',
  'HST',
  'Hongkong',
  'Iceland',
  'Iran',
  'Israel',
  'Jamaica',
  'Japan',
  'Kwajalein',
  'Libya',
  'MET',
  'MST',
  'MST7MDT',
  'NZ',
  'NZ-CHAT',
  'Navajo',
  'PRC',
  'PST8PDT',
  'Poland',
  'Portugal',
  'ROC',
  'ROK',
  'Singapore',
  'Turkey',
  'UCT',
  'UTC',
  'Universal',
  'W-SU',
  'WET',
  'Zulu',
];
const WITHOUT_AREA = new Map(IANA_NAMES_WITHOUT_AREA.map((name) => [name.toLowerCase(), name]));
/** The areas the tz database files its other names under ("America/…"). */
const IANA_AREAS = new Set(
  'africa america antarctica arctic asia atlantic australia brazil canada chile etc europe indian mexico pacific us'.split(
    ' ',
  ),
);
const AREA_NAME = /^([A-Za-z]+)(\/[A-Za-z0-9_+-]+)+$/;

/**
 * True for a zone or link name of the IANA tz database that this runtime knows ("America/New_York",
 * "US/Eastern", "EST5EDT"), in any letter case. The runtime's ICU also accepts IDs of its own that are not
 * IANA names and name other places than people mean by them (BST is Dhaka, NST is Auckland): refused, as
 * are fixed offsets ("UTC+3").
 */
export function isValidTimeZone(zone: string): boolean {
  const area = AREA_NAME.exec(zone)?.[1];
  const named = area ? IANA_AREAS.has(area.toLowerCase()) : WITHOUT_AREA.has(zone.toLowerCase());
  return named && IANAZone.isValidZone(zone);
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
  const withoutArea = WITHOUT_AREA.get(zone.toLowerCase());
  if (withoutArea) return withoutArea as TimeZone;
  const named = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  if (named.toLowerCase() === zone.toLowerCase()) return named as TimeZone;
  return (zone.split('/').every((word) => TZ_SPELLING.test(word)) ? zone : named) as TimeZone;
}
