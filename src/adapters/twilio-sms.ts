// SmsSender over the Twilio Messages API: status callbacks, a validity period that ends with the send
// window, retries only of requests Twilio provably did not process (429/20429, 503/20503, a connection never
// made) within a deadline and honouring Retry-After, and Twilio's refusals mapped to SmsError (21610, the
// recipient opted out, to RecipientOptedOut: no service needs to know Twilio's numbers).
import { type BackoffPolicy, backoffDelay, parseRetryAfter } from '../domain/backoff.js';
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
  | { kind: 'retry'; code: number | null; status: number | null; retryAfter: string | null }
  | { kind: 'final'; error: SmsError };

/** Twilio error 20503, "Service unavailable". */
const TWILIO_SERVICE_UNAVAILABLE = 20503;

/**
 * Twilio answered, and its answer says it did not process the request, so a retry cannot text twice:
 * - 429 / 20429: "An API Request that receives an error 429 response is never processed and is always safe to
 *   retry" (https://www.twilio.com/docs/api/errors/20429).
 * - 503 with Twilio's own error body, code 20503: "The requested Twilio Service is temporarily unavailable …
 *   Try again a few times with exponential back-off" (https://www.twilio.com/docs/api/errors/20503); RFC 9110
 *   §15.6.4: the server is unable to handle the request.
 * Every other 5xx may come after Twilio queued the message (20500: "sending an SMS … If you get a 500 Server
 * Error on these requests, and you retry the request, it is possible for a customer to receive multiple
 * messages", https://www.twilio.com/docs/api/errors/20500; a 502/504 or a bare 503 comes from a gateway that
 * may have passed the request on). Twilio's OpenAPI description (twilio_api_v2010.json, Messages create) lists
 * only its 201 answer, so the error pages are the contract. Messages create has no idempotency key.
 */
function notProcessed({ status, code }: TwilioApiError): boolean {
  return status === 429 || code === 20429 || (status === 503 && code === TWILIO_SERVICE_UNAVAILABLE);
}

/** fetch rejects with TypeError('fetch failed') and the socket error as its cause. */
function networkCode(err: unknown): unknown {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code ?? e?.cause?.code;
}

function classifyTwilioError(err: unknown): Failure {
  if (err instanceof SmsError) return { kind: 'final', error: err };
  if (err instanceof TwilioApiError) {
    const { code, status } = err;
    if (notProcessed(err)) return { kind: 'retry', code, status, retryAfter: err.retryAfter };
    if (status >= 500)
      return {
        kind: 'final',
        error: new SmsOutcomeUnknown(`Twilio answered ${status}; it may have queued the message`),
      };
    if (code === TWILIO_UNSUBSCRIBED_RECIPIENT)
      return { kind: 'final', error: new RecipientOptedOut(err.message, code) };
    return { kind: 'final', error: new SmsError(err.message, code, false) };
  }
  const netCode = networkCode(err);
  if (typeof netCode === 'string' && NOT_SENT_CODES.has(netCode))
    return { kind: 'retry', code: null, status: null, retryAfter: null };
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
          // Twilio's Retry-After is the least wait; one longer than the window left ends the retries now.
          const asked = parseRetryAfter({ retryAfter: failure.retryAfter }, clock.now()) ?? 0;
          const wait = Math.max(backoffDelay(attempt, random, backoff), asked);
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
