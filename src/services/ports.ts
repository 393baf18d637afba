// What services need from the outside world. Adapters in src/adapters implement these; one-machine mode
// and AWS wire different adapters into the same services.
import type { ReplacementReason } from '../domain/message-quality.js';
import type { E164 } from '../domain/phone.js';
import type { ProviderMessage } from '../domain/reconciliation.js';

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

// ── SMS: Twilio adapter in AWS, the local outbox offline ─────────────────────────────────────────────
export interface OutboundSms {
  to: E164;
  body: string;
  /** Absolute URL Twilio posts delivery status callbacks to (PUBLIC_BASE_URL + /twilio/status). */
  statusCallback: string;
  /** The carrier drops the message if it is still queued at this time (Twilio ValidityPeriod). */
  validUntil?: Date;
}

export interface SmsReceipt {
  sid: string;
  /** The status the create call returned (queued, accepted, …); no callback will repeat it. */
  status: string;
  segments: number | null;
}

/** A refusal from the SMS provider. `code` is Twilio's error code when there is one (21610: opted out). */
export class SmsError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SmsError';
  }
}

/**
 * The request may or may not have reached the provider (a timeout or dropped connection after sending).
 * Never retried: the delivery becomes `unknown` for reconciliation instead of risking a second SMS.
 */
export class SmsOutcomeUnknown extends SmsError {
  constructor(message: string) {
    super(message, null, false);
    this.name = 'SmsOutcomeUnknown';
  }
}

/**
 * The provider refuses to text this recipient because they opted out with the carrier or the provider
 * (Twilio's 21610). Services treat it as an opt-out; only the adapter knows the provider's code.
 */
export class RecipientOptedOut extends SmsError {
  constructor(message: string, code: number | null) {
    super(message, code, false);
    this.name = 'RecipientOptedOut';
  }
}

export interface SmsSender {
  send(message: OutboundSms): Promise<SmsReceipt>;
}

// ── Webhooks the database could not take: SQS in AWS, a spool directory locally ──────────────────────
/** A signed, validated webhook whose state change is still to be applied. */
export type KeptWebhook =
  | {
      type: 'inbound';
      messageSid: string;
      from: string;
      to: string | null;
      body: string;
      optOutType: string | null;
      /** ISO time the request arrived: an opt-out counts from when it was asked for. */
      receivedAt: string;
      /**
       * The keeping request's reply token. Its commit may have landed with the answer lost; then the text is
       * stored with this token and the spool claims the reply it owes. Absent in texts kept by older code.
       */
      replyToken?: string;
    }
  | {
      type: 'status';
      messageSid: string;
      status: string;
      errorCode: number | null;
      recipientOptedOut: boolean;
      to: string | null;
      receivedAt: string;
    };

export interface WebhookSpool {
  /** Stores the webhook durably before the request is answered; throws when it cannot. */
  keep(webhook: KeptWebhook): Promise<void>;
}

// ── Message writing: OpenAI in production, the curated library as stand-in and fallback ─────────────
export interface WriteRequest {
  /** Operator-entered first name, or null. Never text the subscriber wrote. */
  firstName: string | null;
  /** The subscriber's recent message bodies, newest first, to avoid repeating them. */
  recent: string[];
  /** The subscriber's local date ('YYYY-MM-DD'), for variety (weekday, season). */
  localDate: string;
}

export interface WrittenMessage {
  body: string;
  /** The model that wrote it, or null for a curated message. */
  model: string | null;
  tokensIn: number;
  tokensOut: number;
  /** OpenAI requests made (completions and moderation), including failed and discarded attempts. */
  requests?: number;
  /** Of `requests`, the moderation checks. */
  moderationRequests?: number;
  /** Why each generated draft before this body was discarded, in order (empty: the first draft went out). */
  replaced?: ReplacementReason[];
  fallback: boolean;
}

export interface MessageWriter {
  write(request: WriteRequest, deadline: Date): Promise<WrittenMessage>;
}

// ── Scheduling one send per delivery: EventBridge Scheduler in AWS, in-process timers locally ────────
export interface ScheduleRequest {
  deliveryId: string;
  at: Date;
  /** End of the subscriber's send window: retries must stop by then. */
  windowEnd: Date;
}

export interface DeliveryScheduler {
  /**
   * Idempotent: scheduling an already scheduled delivery succeeds. Returns the schedule's name. Throws
   * ScheduleQuotaExceeded when no new schedule can exist until pending ones fire or the quota is raised.
   */
  schedule(request: ScheduleRequest): Promise<string>;
  /** Removes a pending schedule; a missing one is not an error. */
  cancel(deliveryId: string): Promise<void>;
}

/**
 * The account holds as many pending schedules as its quota allows (EventBridge Scheduler's "Number of
 * schedules"): retrying cannot help until schedules fire or the quota is raised.
 */
export class ScheduleQuotaExceeded extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ScheduleQuotaExceeded';
  }
}

/**
 * Starts the sender on one delivery now, without waiting for it (an operator's test send): the sender Lambda
 * invoked asynchronously in AWS, the in-process scheduler locally. At least once: the sender's claim makes a
 * repeat harmless, and it refuses a send after `windowEnd`.
 */
export interface SendStarter {
  start(request: { deliveryId: string; windowEnd: Date }): Promise<void>;
}

// ── Rate limits and quotas shared by every instance ──────────────────────────────────────────────────
// The webhooks' per-sender and per-MessageSid limits are counted by their SQL functions (docs/rate-limits.md).
export type BudgetName = 'api' | 'openai_requests' | 'openai_tokens' | 'sms_per_second' | 'sms_per_day';

export type LimitDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterMs: number };

/**
 * An estimate taken from a budget before the real figure is known (OpenAI tokens): `settle` with the
 * real usage afterwards gives back what was over-estimated or takes what was under-estimated.
 */
export type Reservation =
  | { allowed: true; remaining: number; settle(actualPoints: number): Promise<void> }
  | { allowed: false; retryAfterMs: number };

export interface RateLimiter {
  /** Takes `points` now if the budget allows; never throws for a store outage (it degrades instead). */
  consume(budget: BudgetName, key: string, points?: number): Promise<LimitDecision>;
  /** Waits for a turn until `deadline` (a global pace: callers queue rather than fail). */
  waitForTurn(budget: BudgetName, key: string, deadline: Date, points?: number): Promise<LimitDecision>;
  /** Gives points back (e.g. a token estimate that was higher than the real usage). */
  refund(budget: BudgetName, key: string, points: number): Promise<void>;
  /** Takes an estimate (waiting until `deadline` when given); settle it with the real figure after. */
  reserve(budget: BudgetName, key: string, estimate: number, deadline?: Date): Promise<Reservation>;
}

// ── Metrics: Powertools Metrics (EMF) in AWS; the observability issue publishes them ─────────────────
export interface MetricsSink {
  count(name: string, value?: number, dimensions?: Record<string, string>): void;
}
export const noMetrics: MetricsSink = { count: () => {} };

// ── Reconciliation: what the SMS provider says became of a message (Twilio Messages API) ────────────
export type { ProviderMessage };

export interface MessageStatusLookup {
  /** The message with this SID, or null when the provider has no such message. */
  fetchStatus(sid: string): Promise<ProviderMessage | null>;
  /** Messages to `to` sent in [from, until] (for sends whose SID was never recorded). */
  findSentTo(to: E164, from: Date, until: Date): Promise<ProviderMessage[]>;
}
