// MessageWriter over the curated library: the offline writer and OpenAI's fallback.
import { CURATED_MESSAGES } from '../domain/curated-messages.js';
import { isSingleGsmSegment, normalizeForSms } from '../domain/gsm.js';
import { comparisonKey, isRepeatOfKeys, recentKeys } from '../domain/message-quality.js';
import type { MessageWriter, WriteRequest, WrittenMessage } from '../services/ports.js';

export interface CuratedWriterOptions {
  messages?: readonly string[];
  /** Uniform in [0, 1); injectable so tests can pin the choice. */
  random?: () => number;
}

/** A first name safe to put in front of a message: GSM-7 letters only, or null. */
export function greetingName(firstName: string | null): string | null {
  if (!firstName) return null;
  const name = normalizeForSms(firstName);
  return /^[\p{L}][\p{L}' -]{0,29}$/u.test(name) && isSingleGsmSegment(name) ? name : null;
}

/** Never repeats one of the subscriber's last 30 messages; greets by first name when it still fits. */
export function createCuratedWriter(options: CuratedWriterOptions = {}): MessageWriter & {
  pick(request: WriteRequest): string;
} {
  const messages = options.messages ?? CURATED_MESSAGES;
  const random = options.random ?? Math.random;
  if (messages.length === 0) throw new Error('createCuratedWriter: the library is empty');
  const keyed = messages.map((body) => ({ body, key: comparisonKey(body) }));

  function pick(request: WriteRequest): string {
    const recent = recentKeys(request.recent);
    const fresh = keyed.filter((m) => !isRepeatOfKeys(m.key, recent)).map((m) => m.body);
    // With 150+ messages and 30 recent ones this never empties; if a tiny custom library does, any will do.
    const pool = fresh.length > 0 ? fresh : messages;
    const chosen = pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))] as string;
    const name = greetingName(request.firstName);
    const greeted = name ? `Hi ${name}! ${chosen}` : chosen;
    return isSingleGsmSegment(greeted) ? greeted : chosen;
  }

  return {
    pick,
    async write(request: WriteRequest): Promise<WrittenMessage> {
      return { body: pick(request), model: null, tokensIn: 0, tokensOut: 0, fallback: false };
    },
  };
}
