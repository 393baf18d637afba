// Whether a candidate daily message may be sent: one GSM-7 segment, fresh for this subscriber, and
// plainly a kind note rather than a refusal, an assistant preamble, a link or a phone number.
import { isGsm7, isSingleGsmSegment, normalizeForSms } from './gsm.js';

export const RECENT_MESSAGES_CHECKED = 30;
/** Shorter than this is not a message anyone would be glad to get. */
export const MIN_MESSAGE_LENGTH = 20;

export type QualityProblem =
  | 'empty'
  | 'too_short'
  | 'not_gsm'
  | 'too_long'
  | 'repeat'
  | 'refusal'
  | 'off_topic'
  | 'link'
  | 'phone_number';

export type QualityVerdict = { ok: true } | { ok: false; problem: QualityProblem };

const REFUSAL =
  /\b(i'?m sorry|i am sorry|i can'?t|i cannot|i'?m unable|i am unable|as an ai|language model|openai|chatgpt)\b/i;
/** Assistant chatter, meta text, or topics the prompt rules out (religion, health advice). */
const OFF_TOPIC =
  /(^(sure|certainly|of course|here is|here's|absolutely)\b)|\b(message:|sms:|text message|character(s)? long|\d+ characters)|\b(god|gods|jesus|prayer|pray|praying|blessed|blessings|amen|church|lord|heaven|scripture|doctor|medication|medicine|diagnos\w*|therapy|therapist|symptoms?|prescription|vaccine|disease)\b/i;
const LINK = /(https?:\/\/|www\.|\b[a-z0-9-]+\.(com|net|org|io|ly|co|app|me|info|biz)\b)/i;
/** Seven or more digits, allowing the separators people write phone numbers with. */
const PHONE = /\+?\d(?:[\s().-]*\d){6,}/;

/** Comparison form: case, punctuation and spacing do not make a message new. */
export function comparisonKey(text: string): string {
  return normalizeForSms(text)
    .toLowerCase()
    .replace(/[^a-z0-9 ]+/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Comparison keys of the messages that count as recent (the first 30, newest first). */
export function recentKeys(recent: readonly string[]): string[] {
  return recent
    .slice(0, RECENT_MESSAGES_CHECKED)
    .map(comparisonKey)
    .filter((k) => k !== '');
}

/** True when `key` (or `key` with a greeting in front, or the other way round) is one of `keys`. */
export function isRepeatOfKeys(key: string, keys: readonly string[]): boolean {
  if (key === '') return false;
  return keys.some((other) => other === key || other.endsWith(` ${key}`) || key.endsWith(` ${other}`));
}

/** True when `body` (or `body` with a greeting in front) is one of the recent messages. */
export function isRecentRepeat(body: string, recent: readonly string[]): boolean {
  return isRepeatOfKeys(comparisonKey(body), recentKeys(recent));
}

/**
 * Checks a candidate exactly as it would be sent (call normalizeForSms first). `recent` is the
 * subscriber's latest message bodies, newest first; only the first 30 count.
 */
export function checkMessage(candidate: string, recent: readonly string[]): QualityVerdict {
  const body = candidate.trim();
  if (body === '') return { ok: false, problem: 'empty' };
  if (body.length < MIN_MESSAGE_LENGTH) return { ok: false, problem: 'too_short' };
  if (!isGsm7(body)) return { ok: false, problem: 'not_gsm' };
  if (!isSingleGsmSegment(body)) return { ok: false, problem: 'too_long' };
  if (REFUSAL.test(body)) return { ok: false, problem: 'refusal' };
  if (OFF_TOPIC.test(body)) return { ok: false, problem: 'off_topic' };
  if (LINK.test(body)) return { ok: false, problem: 'link' };
  if (PHONE.test(body)) return { ok: false, problem: 'phone_number' };
  if (isRecentRepeat(body, recent)) return { ok: false, problem: 'repeat' };
  return { ok: true };
}

/** Strips the wrapping quotes and labels models sometimes add around the one message asked for. */
export function unwrapModelOutput(text: string): string {
  let s = normalizeForSms(text);
  for (let i = 0; i < 2; i++) {
    const quoted = /^"(.*)"$/.exec(s) ?? /^'(.*)'$/.exec(s);
    if (quoted?.[1] !== undefined && !quoted[1].includes('"')) s = quoted[1].trim();
  }
  return s;
}
