// SmsSender over the Twilio Messages API: status callbacks, a validity period that ends with the send
// window, retries on 429/20429/5xx within a deadline, and Twilio's refusals mapped to SmsError.
import twilio from 'twilio';
import { type BackoffPolicy, backoffDelay } from '../domain/backoff.js';
import { maskPhone } from '../domain/phone.js';
import { logger } from '../logger.js';
import {
  type Clock,
  type OutboundSms,
  SmsError,
  SmsOutcomeUnknown,
  type SmsReceipt,
  type SmsSender,
  systemClock,
} from '../services/ports.js';

/** Twilio accepts ValidityPeriod between 1 and 36000 seconds (10 hours). */
export const VALIDITY_MIN_S = 1;
export const VALIDITY_MAX_S = 36_000;

export type TwilioSender = { from: string } | { messagingServiceSid: string };

export interface TwilioSmsOptions {
  accountSid: string;
  authToken: string;
  sender: TwilioSender;
  /** Longest time spent retrying one message (capped by its validity). */
  retryWindowMs?: number;
  requestTimeoutMs?: number;
  maxRetries?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  clock?: Clock;
  /** For tests: a pre-built client. */
  client?: twilio.Twilio;
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

export function classifyTwilioError(err: unknown): Failure {
  if (err instanceof twilio.RestException) {
    const code = err.code ?? null;
    if (err.status === 429 || code === 20429 || err.status >= 500)
      return { kind: 'retry', code, status: err.status };
    return { kind: 'final', error: new SmsError(err.message, code, false) };
  }
  const netCode = (err as { code?: unknown })?.code;
  if (typeof netCode === 'string' && NOT_SENT_CODES.has(netCode))
    return { kind: 'retry', code: null, status: null };
  // Timeouts and dropped connections: Twilio may have accepted it. Retrying could text twice.
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'final', error: new SmsOutcomeUnknown(`Twilio request outcome unknown: ${message}`) };
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
  // Retries are ours (bounded by the window); the SDK's own 429 auto-retry is off.
  const client =
    options.client ??
    twilio(options.accountSid, options.authToken, { autoRetry: false, timeout: requestTimeoutMs });
  const origin = 'from' in options.sender ? { from: options.sender.from } : options.sender;

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
          const created = await client.messages.create({
            to: message.to,
            body: message.body,
            statusCallback: message.statusCallback,
            ...origin,
            ...(validityPeriod === null ? {} : { validityPeriod }),
          });
          const segments = Number(created.numSegments);
          return {
            sid: created.sid,
            status: created.status,
            segments: Number.isInteger(segments) && segments > 0 ? segments : null,
          };
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
