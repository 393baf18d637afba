// SmsSender over the Twilio Messages API: status callbacks, a validity period that ends with the send
// window, retries on 429/20429/5xx within a deadline, and Twilio's refusals mapped to SmsError (21610, the
// recipient opted out, to RecipientOptedOut: no service needs to know Twilio's numbers).
import { type BackoffPolicy, backoffDelay } from '../domain/backoff.js';
import { maskPhone } from '../domain/phone.js';
import { logger } from '../logger.js';
import {
  type Clock,
  type OutboundSms,
  RecipientOptedOut,
  SmsError,
  SmsOutcomeUnknown,
  type SmsReceipt,
  type SmsSender,
  systemClock,
} from '../services/ports.js';
import type { Credentials, TwilioCredentials } from './credentials.js';
import {
  createTwilioApi,
  segmentCount,
  TWILIO_UNSUBSCRIBED_RECIPIENT,
  type TwilioApi,
  TwilioApiError,
  TwilioMessage,
} from './twilio-api.js';

/** Twilio accepts ValidityPeriod between 1 and 36000 seconds (10 hours). */
const VALIDITY_MIN_S = 1;
const VALIDITY_MAX_S = 36_000;

export type TwilioSender = { from: string } | { messagingServiceSid: string };

export interface TwilioSmsOptions {
  /** Fixed, or re-read when Twilio refuses them (a rotated auth token). */
  credentials: TwilioCredentials | Credentials<TwilioCredentials>;
  sender: TwilioSender;
  /** Longest time spent retrying one message (capped by its validity). */
  retryWindowMs?: number;
  requestTimeoutMs?: number;
  maxRetries?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  clock?: Clock;
  /** For tests: another fetch. */
  fetch?: typeof fetch;
}

/** Seconds until `validUntil`, clamped to Twilio's range; null when the message has no expiry. */
export function validityPeriodSeconds(validUntil: Date | undefined, now: Date): number | null {
  if (!validUntil) return null;
  const seconds = Math.ceil((validUntil.getTime() - now.getTime()) / 1000);
  return Math.min(VALIDITY_MAX_S, Math.max(VALIDITY_MIN_S, seconds));
}

/** Network failures that happen before the request is written: safe to retry, nothing was sent. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

type Failure =
  | { kind: 'retry'; code: number | null; status: number | null }
  | { kind: 'final'; error: SmsError };

/** fetch rejects with TypeError('fetch failed') and the socket error as its cause. */
function networkCode(err: unknown): unknown {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code ?? e?.cause?.code;
}

function classifyTwilioError(err: unknown): Failure {
  if (err instanceof SmsError) return { kind: 'final', error: err };
  if (err instanceof TwilioApiError) {
    const { code, status } = err;
    if (status === 429 || code === 20429 || status >= 500) return { kind: 'retry', code, status };
    if (code === TWILIO_UNSUBSCRIBED_RECIPIENT)
      return { kind: 'final', error: new RecipientOptedOut(err.message, code) };
    return { kind: 'final', error: new SmsError(err.message, code, false) };
  }
  const netCode = networkCode(err);
  if (typeof netCode === 'string' && NOT_SENT_CODES.has(netCode))
    return { kind: 'retry', code: null, status: null };
  // Timeouts and dropped connections: Twilio may have accepted it. Retrying could text twice.
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'final', error: new SmsOutcomeUnknown(`Twilio request outcome unknown: ${message}`) };
}

/** Twilio accepted the message (2xx); an answer without a SID leaves us unable to track it. */
function readCreated(answer: unknown): SmsReceipt {
  const parsed = TwilioMessage.safeParse(answer);
  const sid = parsed.success ? parsed.data.sid : null;
  if (!parsed.success || !sid)
    throw new SmsOutcomeUnknown('Twilio accepted the request but its answer has no message SID');
  return {
    sid,
    // A 2xx is Twilio's acceptance; without a status in it, status callbacks move it on from there.
    status: parsed.data.status ?? 'accepted',
    segments: segmentCount(parsed.data.num_segments),
  };
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createTwilioSms(options: TwilioSmsOptions): SmsSender {
  const {
    retryWindowMs = 20_000,
    requestTimeoutMs = 10_000,
    maxRetries = 4,
    backoff = { baseMs: 500, capMs: 5_000 },
    random = Math.random,
    sleep = defaultSleep,
    clock = systemClock,
  } = options;
  // Retries are ours, bounded by the window.
  const api: TwilioApi = createTwilioApi(options.credentials, options.fetch);
  const origin =
    'from' in options.sender
      ? { From: options.sender.from }
      : { MessagingServiceSid: options.sender.messagingServiceSid };

  return {
    async send(message: OutboundSms): Promise<SmsReceipt> {
      const start = clock.now().getTime();
      const retryUntil = Math.min(
        start + retryWindowMs,
        message.validUntil?.getTime() ?? Number.POSITIVE_INFINITY,
      );
      for (let attempt = 0; ; attempt++) {
        const validityPeriod = validityPeriodSeconds(message.validUntil, clock.now());
        try {
          const answer = await api.request({
            method: 'POST',
            path: '/Messages.json',
            form: {
              To: message.to,
              Body: message.body,
              StatusCallback: message.statusCallback,
              ...origin,
              ValidityPeriod: validityPeriod ?? undefined,
            },
            timeoutMs: requestTimeoutMs,
          });
          return readCreated(answer);
        } catch (err) {
          const failure = classifyTwilioError(err);
          if (failure.kind === 'final') throw failure.error;
          const wait = backoffDelay(attempt, random, backoff);
          if (attempt >= maxRetries || clock.now().getTime() + wait >= retryUntil) {
            throw new SmsError(
              `Twilio still refusing after ${attempt + 1} attempts (status ${failure.status ?? 'network'})`,
              failure.code,
              true,
            );
          }
          logger.warn('twilio send failed; retrying', {
            to: maskPhone(message.to),
            status: failure.status,
            code: failure.code,
            attempt,
            waitMs: wait,
          });
          await sleep(wait);
        }
      }
    },
  };
}
