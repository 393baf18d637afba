// Twilio Messages API, read side: the status of one message by SID, and messages sent to a number in a
// time range. Used by the daily reconciliation.
import { type BackoffPolicy, backoffDelay, parseRetryAfter } from '../domain/backoff.js';
import { TWILIO_CALLS } from '../domain/call-budgets.js';
import type { E164 } from '../domain/phone.js';
import type { MessageStatusLookup, ProviderMessage } from '../services/ports.js';
import type { Credentials } from './credentials.js';
import {
  createTwilioApi,
  segmentCount,
  type TwilioApi,
  TwilioApiError,
  type TwilioCredentials,
  TwilioMessage,
  TwilioMessagePage,
  twilioDate,
  twilioDateTime,
} from './twilio-api.js';

export type { TwilioCredentials } from './twilio-api.js';

export interface TwilioStatusLookupOptions {
  requestTimeoutMs?: number;
  /** Retries of a request Twilio answered 429 (the run is not time-critical: back off, don't fail). */
  maxRetries?: number;
  /** Longest Retry-After honoured; Twilio asking for more ends the retries (the next run asks again). */
  maxRetryAfterMs?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}

/**
 * What reconciliation reads from a Message resource, or null when it has no SID or no status to record
 * (`sid` stands in for an answer to a fetch by SID that leaves it out).
 */
function toProviderMessage(m: TwilioMessage, sid = m.sid): ProviderMessage | null {
  if (!sid || !m.status) return null;
  return {
    sid,
    status: m.status,
    errorCode: m.error_code ?? null,
    to: m.to ?? null,
    direction: m.direction ?? null,
    dateCreated: twilioDate(m.date_created),
    dateSent: twilioDate(m.date_sent),
    body: m.body ?? null,
    segments: segmentCount(m.num_segments),
  };
}

/** Twilio answered 2xx with something reconciliation cannot use. */
class UnreadableTwilioAnswer extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableTwilioAnswer';
  }
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TwilioStatusLookup implements MessageStatusLookup {
  private readonly api: TwilioApi;
  private readonly options: Required<Omit<TwilioStatusLookupOptions, 'fetch'>>;

  constructor(
    credentials: TwilioCredentials | Credentials<TwilioCredentials>,
    options: TwilioStatusLookupOptions = {},
  ) {
    this.api = createTwilioApi(credentials, options.fetch);
    this.options = {
      // Reconciliation's bounds: a read in flight at the run's deadline ends inside the time it keeps.
      requestTimeoutMs: options.requestTimeoutMs ?? TWILIO_CALLS.reconcileRead.attemptMs,
      maxRetries: options.maxRetries ?? TWILIO_CALLS.reconcileRead.maxRetries,
      maxRetryAfterMs: options.maxRetryAfterMs ?? TWILIO_CALLS.reconcileRead.maxWaitMs,
      backoff: options.backoff ?? {
        baseMs: 100,
        capMs: Math.min(3_000, TWILIO_CALLS.reconcileRead.maxWaitMs),
      },
      random: options.random ?? Math.random,
      sleep: options.sleep ?? defaultSleep,
    };
  }

  async fetchStatus(sid: string): Promise<ProviderMessage | null> {
    try {
      const answer = await this.get(`/Messages/${encodeURIComponent(sid)}.json`);
      const parsed = TwilioMessage.safeParse(answer);
      const message = parsed.success ? toProviderMessage(parsed.data, parsed.data.sid ?? sid) : null;
      if (!message) throw new UnreadableTwilioAnswer(`Twilio's answer for ${sid} has no message status`);
      return message;
    } catch (error) {
      if (error instanceof TwilioApiError && error.status === 404) return null;
      throw error;
    }
  }

  async findSentTo(to: E164, from: Date, until: Date): Promise<ProviderMessage[]> {
    // One page of 20 is the whole answer: a subscriber gets one text a day.
    const answer = await this.get('/Messages.json', {
      To: to,
      'DateSent>': twilioDateTime(from),
      'DateSent<': twilioDateTime(until),
      PageSize: 20,
    });
    // A message without a SID or status cannot be matched to a delivery; the rest still can.
    return (TwilioMessagePage.parse(answer).messages ?? []).flatMap((m) => toProviderMessage(m) ?? []);
  }

  private async get(path: string, query?: Record<string, string | number>): Promise<unknown> {
    const { requestTimeoutMs, maxRetries, maxRetryAfterMs, backoff, random, sleep } = this.options;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.api.request({ method: 'GET', path, query, timeoutMs: requestTimeoutMs });
      } catch (error) {
        const throttled = error instanceof TwilioApiError && (error.status === 429 || error.code === 20429);
        if (!throttled || attempt >= maxRetries) throw error;
        const asked = parseRetryAfter({ retryAfter: error.retryAfter }, new Date()) ?? 0;
        if (asked > maxRetryAfterMs) throw error;
        await sleep(Math.max(backoffDelay(attempt, random, backoff), asked));
      }
    }
  }
}
