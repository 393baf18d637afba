// GSM-7 (3GPP TS 23.038) alphabet, SMS segment counting and the normalisation that keeps a kind message
// inside one 160-character GSM-7 segment instead of a 70-character UCS-2 one.

/** The GSM-7 default alphabet: one septet each. */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** The extension table: an escape septet plus one, so two septets each. */
const EXTENDED = '\f^{}\\[~]|€';

const basicSet = new Set(BASIC);
const extendedSet = new Set(EXTENDED);

const GSM_SINGLE_SEGMENT = 160;
const GSM_MULTI_SEGMENT = 153;
const UCS2_SINGLE_SEGMENT = 70;
const UCS2_MULTI_SEGMENT = 67;

type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: SmsEncoding;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
  segments: number;
}

function isGsmCharacter(ch: string): boolean {
  return basicSet.has(ch) || extendedSet.has(ch);
}

/** True when every character can be sent in GSM-7 (basic alphabet or extension table). */
export function isGsm7(text: string): boolean {
  for (const ch of text) if (!isGsmCharacter(ch)) return false;
  return true;
}

/** Length in septets: extension-table characters count twice. Only meaningful for GSM-7 text. */
export function gsmLength(text: string): number {
  let n = 0;
  for (const ch of text) n += extendedSet.has(ch) ? 2 : 1;
  return n;
}

/**
 * Segments a carrier bills for `text`. Multi-part messages lose room to the concatenation header, and an
 * escape pair (GSM-7) or a surrogate pair (UCS-2) is never split across parts, so parts are filled one
 * character at a time rather than by dividing.
 */
export function countSegments(text: string): SegmentCount {
  if (text.length === 0) return { encoding: 'GSM-7', units: 0, segments: 0 };
  const gsm = isGsm7(text);
  const single = gsm ? GSM_SINGLE_SEGMENT : UCS2_SINGLE_SEGMENT;
  const perPart = gsm ? GSM_MULTI_SEGMENT : UCS2_MULTI_SEGMENT;
  const widths = [...text].map((ch) => (gsm ? (extendedSet.has(ch) ? 2 : 1) : ch.length));
  const units = widths.reduce((a, b) => a + b, 0);
  if (units <= single) return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const w of widths) {
    if (used + w > perPart) {
      segments += 1;
      used = 0;
    }
    used += w;
  }
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments };
}

/** True when `text` is non-empty GSM-7 that fits one 160-septet segment. */
export function isSingleGsmSegment(text: string): boolean {
  const c = countSegments(text);
  return c.encoding === 'GSM-7' && c.segments === 1;
}

/** Typographic characters models like to write, and their plain GSM-7 stand-ins. */
const REPLACEMENTS: [RegExp, string][] = [
  [/[\u2018\u2019\u201A\u201B\u2032\u0060\u00B4\u02BC]/g, "'"],
  [/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"'],
  [/[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]/g, '-'],
  [/\u2026/g, '...'],
  [/[\u2022\u00B7]/g, '-'],
  [/[\u00A0\u2000-\u200A\u202F\u205F\u3000\t]/g, ' '],
  [/[\u200B-\u200D\u2060\uFEFF]/g, ''],
];

/**
 * Makes text safe for one GSM-7 segment: typographic quotes, dashes, ellipses and unusual spaces become
 * their plain forms, accents missing from GSM-7 are dropped (á → a, keeping é which GSM-7 has), emoji and
 * any other non-GSM character are removed, and whitespace is collapsed. Does not shorten the text.
 */
export function normalizeForSms(text: string): string {
  let s = text.normalize('NFC');
  for (const [pattern, replacement] of REPLACEMENTS) s = s.replace(pattern, replacement);
  let out = '';
  for (const ch of s) {
    if (ch === '\n' || ch === '\r' || ch === '\f') {
      out += ' ';
    } else if (isGsmCharacter(ch)) {
      out += ch;
    } else {
      // Letters with accents GSM-7 lacks keep their base letter; everything else (emoji, symbols) goes.
      const base = ch.normalize('NFD').replace(/\p{M}+/gu, '');
      if (base !== ch && isGsm7(base)) out += base;
    }
  }
  return out
    .replace(/\s+/g, ' ')
    .replace(/ ([!?.,;:])/g, '$1')
    .trim();
}
