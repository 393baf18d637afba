// Use case: send one subscriber's message for the day, exactly once, or end the delivery with a reason.
// Scheduler delivers at least once, so everything external happens only after an atomic claim.
// The story is `sendDailyMessage`; each step below it is one function: eligibility, writing, delivering,
// recording, and the named ways a claimed delivery ends without a message.
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  claimDelivery,
  findDeliveryState,
  findSubscriber,
  finishClaim,
  recentBodies,
  recordAttempt,
  recordSent,
  textInstantsBetween,
} from '../db/repositories/deliveries/sending.js';
import {
  addQuotaUse,
  addUsage,
  getUsage,
  quotaUsed,
  type UsageDelta,
  usageDay,
} from '../db/repositories/usage.js';
import type { Delivery, Subscriber } from '../db/schema.js';
import { OPENAI_CALLS, SENDER_PACE_WAIT_MS } from '../domain/call-budgets.js';
import { estimateCost, type Prices, pricesFromConfig } from '../domain/cost.js';
import type { DeliveryState, SenderSkipReason as SkipReason } from '../domain/delivery.js';
import { countSegments, isSingleGsmSegment } from '../domain/gsm.js';
import type { ReplacementReason } from '../domain/message-quality.js';
import { maskPhone, storedE164 } from '../domain/phone.js';
import { addDays, localDateAt } from '../domain/send-window.js';
import { logger } from '../logger.js';
import { withDbRetry } from './db-retry.js';
import { optOutSubscriber, removeSchedules } from './opt-out.js';
import {
  type Clock,
  type DeliveryScheduler,
  type MessageWriter,
  type RateLimiter,
  RecipientOptedOut,
  SmsError,
  SmsOutcomeUnknown,
  type SmsReceipt,
  type SmsSender,
  type WrittenMessage,
} from './ports.js';

type FailReason =
  | 'writer_error'
  | 'invalid_body'
  | 'twilio_unavailable'
  | 'twilio_rejected'
  | 'twilio_outcome_unknown'
  | 'opted_out_at_carrier';

/** What writing the message used, once the writer ran: the handler publishes it as metrics. */
interface WriteUsage {
  openaiRequests: number;
  /** OpenAI tokens in + out. */
  tokens: number;
  /** Estimated cost in USD: the tokens, plus the SMS segments when the message was sent. */
  costUsd: number;
  /** True when the curated library wrote it. */
  fallback: boolean;
  /** Why generated drafts were discarded before the body that was kept (content safety; issue #20). */
  replaced: readonly ReplacementReason[];
}

export type SendOutcome =
  | {
      outcome: 'sent';
      deliveryId: string;
      messageSid: string;
      segments: number;
      fallback: boolean;
      usage: WriteUsage;
    }
  | { outcome: 'duplicate'; deliveryId: string; state: DeliveryState }
  | { outcome: 'not_found'; deliveryId: string }
  | { outcome: 'skipped'; deliveryId: string; reason: SkipReason; usage?: WriteUsage }
  | { outcome: 'failed'; deliveryId: string; code: number | null; reason: FailReason; usage?: WriteUsage };

export interface SenderSettings {
  /** PUBLIC_BASE_URL without a trailing slash. */
  publicBaseUrl: string;
  messagesPerDay: number;
  dailyCostLimitUsd: number;
  prices: Prices;
  /** How long the writer (OpenAI with retries, then the fallback) may take. */
  writeTimeoutMs: number;
  /**
   * Longest wait for a turn on the sms_per_second pace (default SENDER_PACE_WAIT_MS); without one by then
   * the send is skipped (late).
   */
  paceWaitMs?: number;
}

export function senderSettings(config: Settings & { PUBLIC_BASE_URL: string }): SenderSettings {
  return {
    publicBaseUrl: config.PUBLIC_BASE_URL,
    messagesPerDay: config.TWILIO_MESSAGES_PER_DAY,
    dailyCostLimitUsd: config.DAILY_COST_LIMIT_USD,
    prices: pricesFromConfig(config),
    writeTimeoutMs: OPENAI_CALLS.writeMs,
  };
}

export interface SendDeps {
  db: Db;
  sms: SmsSender;
  /** Removes the schedules of later deliveries when the provider says the recipient opted out. */
  scheduler: DeliveryScheduler;
  writer: MessageWriter;
  limiter: RateLimiter;
  clock: Clock;
  settings: SenderSettings;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Key of the global pace and daily quota budgets: one Twilio sender for everybody. */
export const SMS_LIMIT_KEY = 'twilio';
/** Scheduler fires at the planned instant; allow for clock skew between it and us. */
const EARLY_TOLERANCE_MS = 60_000;

/** A delivery this invocation claimed (state `sending`): only it may end the delivery. */
interface Claim {
  delivery: Delivery;
  log: ReturnType<typeof logger.createChild>;
}

/**
 * A claimed delivery found eligible: one point of the daily quota is held for it from here on, given back
 * by every ending that sends nothing.
 */
interface HeldClaim extends Claim {
  subscriber: Subscriber;
  /** The UTC day whose cost cap was checked: what this send uses counts on that day. */
  usageDay: string;
}

/** A message the writer produced, with what producing it used. */
interface Written {
  message: WrittenMessage;
  usage: WriteUsage;
}

/** How a held claim ends when nothing goes out. */
type Unsent =
  | { state: 'skipped'; reason: SkipReason }
  | { state: 'failed'; reason: FailReason; code: number | null };

export async function sendDailyMessage(deps: SendDeps, deliveryId: string): Promise<SendOutcome> {
  if (!UUID.test(deliveryId)) return { outcome: 'not_found', deliveryId };

  // Claim before anything external: only one invocation ever gets past this line.
  const delivery = await claimDelivery(deps.db, deliveryId, deps.clock.now());
  if (!delivery) return alreadyTaken(deps, deliveryId);
  const claim: Claim = { delivery, log: logger.createChild({ persistentKeys: { deliveryId } }) };

  const eligibility = await checkEligibility(deps, claim);
  if ('skip' in eligibility) return skipBeforeWriting(deps, claim, eligibility.skip);
  const held = eligibility.held;

  const written = await writeMessage(deps, held);
  if (!written) return endUnsent(deps, held, { state: 'failed', reason: 'writer_error', code: null });
  if (!isSingleGsmSegment(written.message.body)) {
    // Writers guarantee one GSM-7 segment; a breach is a bug, and a bug must not cost the subscriber money.
    return endUnsent(deps, held, { state: 'failed', reason: 'invalid_body', code: null }, written);
  }

  const notNow = await waitUntilDeliverable(deps, held);
  if (notNow) return endUnsent(deps, held, { state: 'skipped', reason: notNow }, written);

  // Before Twilio hears of it: an outcome we never learn is matched by this text (docs/sender.md step 4).
  const { body, model, fallback, tokensIn, tokensOut } = written.message;
  await recordAttempt(deps.db, held.delivery.id, {
    body,
    segments: countSegments(body).segments,
    model,
    fallback,
    tokensIn,
    tokensOut,
  });
  let receipt: SmsReceipt;
  try {
    receipt = await deliver(deps, held, written);
  } catch (error) {
    return endAfterRefusal(deps, held, written, error);
  }
  return recordSend(deps, held, written, receipt);
}

async function alreadyTaken({ db }: SendDeps, deliveryId: string): Promise<SendOutcome> {
  const existing = await findDeliveryState(db, deliveryId);
  if (!existing) return { outcome: 'not_found', deliveryId };
  logger.info('delivery already taken', { deliveryId, state: existing.state });
  return { outcome: 'duplicate', deliveryId, state: existing.state };
}

// ── Eligibility: everything that may have changed since planning, then the day's quota point ────────

async function checkEligibility(
  { db, clock, settings, limiter }: SendDeps,
  claim: Claim,
): Promise<{ held: HeldClaim } | { skip: SkipReason }> {
  const { delivery } = claim;
  const subscriber = await findSubscriber(db, delivery.subscriber_id);
  const unwanted = whyNotWanted(subscriber);
  if (unwanted || !subscriber) return { skip: unwanted ?? 'not_active' };
  // A zone change re-stamps the planned deliveries that fit the new zone and cancels the others; one
  // planned or claimed around the change still has the old zone's window, which may be night where the
  // subscriber is now.
  if (delivery.time_zone !== subscriber.time_zone) return { skip: 'time_zone_changed' };

  const now = clock.now();
  if (now.getTime() >= delivery.window_end.getTime()) return { skip: 'late' };
  if (now.getTime() < delivery.window_start.getTime() - EARLY_TOLERANCE_MS) return { skip: 'early' };
  if (await alreadyTextedOn(db, delivery)) return { skip: 'already_sent_today' };

  // The daily SMS quota counts per subscriber-local date, as the planner does (docs/planner.md): the
  // planner plans at most the quota on each date, and this is the backstop.
  const quotaDay = delivery.local_date;
  const day = usageDay(now);
  if ((await quotaUsed(db, quotaDay)) >= settings.messagesPerDay) return { skip: 'quota' };
  const usage = await getUsage(db, day);
  if ((usage?.estimated_cost_usd ?? 0) >= settings.dailyCostLimitUsd) return { skip: 'cost_cap' };
  const quota = await limiter.consume('sms_per_day', quotaDay, 1);
  if (!quota.allowed) return { skip: 'quota' };

  return { held: { ...claim, subscriber, usageDay: day } };
}

/**
 * True when another text reached the subscriber on this delivery's local date, as their current zone
 * counts it. One row per local date makes that impossible within one zone; a text sent in a previous zone
 * can fall on it (New York's 12–17 is the next morning in Tokyo).
 */
async function alreadyTextedOn(db: Db, delivery: Delivery): Promise<boolean> {
  // Local dates of one instant differ by at most 2 across zones (UTC−12 … UTC+14).
  const dates = { from: addDays(delivery.local_date, -2), to: addDays(delivery.local_date, 2) };
  const instants = await textInstantsBetween(db, delivery.subscriber_id, delivery.id, dates);
  return instants.some((at) => localDateAt(delivery.time_zone, at) === delivery.local_date);
}

/** Why the subscriber must not get a message now, or null when they should. */
function whyNotWanted(subscriber: Subscriber | undefined): SkipReason | null {
  if (subscriber?.status === 'opted_out') return 'opted_out';
  if (subscriber?.status !== 'active') return 'not_active';
  return subscriber.paused ? 'paused' : null;
}

// ── Writing ───────────────────────────────────────────────────────────────────────────────────────────

/**
 * The OpenAI writer falls back to the curated library itself; a writer that still throws is the last
 * resort, logged here and answered as `writer_error` (null).
 */
async function writeMessage(
  { db, clock, settings, writer }: SendDeps,
  held: HeldClaim,
): Promise<Written | null> {
  const { delivery, subscriber, log } = held;
  try {
    const deadline = new Date(
      Math.min(delivery.window_end.getTime(), clock.now().getTime() + settings.writeTimeoutMs),
    );
    const message = await writer.write(
      {
        firstName: subscriber.name,
        recent: await recentBodies(db, subscriber.id, 30),
        localDate: delivery.local_date,
      },
      deadline,
    );
    return { message, usage: writeUsage(message, settings.prices) };
  } catch (error) {
    log.error('message writer failed', { error });
    return null;
  }
}

function writeUsage(message: WrittenMessage, prices: Prices): WriteUsage {
  return {
    openaiRequests: message.requests ?? 0,
    tokens: message.tokensIn + message.tokensOut,
    // Tokens cost money whether or not the SMS goes out; a sent message replaces this with its full cost.
    costUsd: estimateCost({ tokensIn: message.tokensIn, tokensOut: message.tokensOut, segments: 0 }, prices)
      .totalUSD,
    fallback: message.fallback,
    replaced: message.replaced ?? [],
  };
}

/** What a send adds to usage_daily: the writing always; the SMS and the full cost once it went out. */
function dailyUsage({ message, usage }: Written, sent?: { segments: number; costUsd: number }): UsageDelta {
  return {
    openaiRequests: usage.openaiRequests,
    tokensIn: message.tokensIn,
    tokensOut: message.tokensOut,
    fallbacks: message.fallback ? 1 : 0,
    costUsd: sent?.costUsd ?? usage.costUsd,
    ...(sent && { smsSent: 1, smsSegments: sent.segments }),
  };
}

// ── Delivering ────────────────────────────────────────────────────────────────────────────────────────

/**
 * Opt-outs can arrive while the model was writing: look once more, then wait for the global pace.
 * Answers why the message must not go out after all, or null when it may go now.
 */
async function waitUntilDeliverable(
  { db, clock, limiter, settings }: SendDeps,
  held: HeldClaim,
): Promise<SkipReason | null> {
  const unwanted = whyNotWanted(await findSubscriber(db, held.subscriber.id));
  if (unwanted) return unwanted;
  const windowEnd = held.delivery.window_end;
  // Bounded by the invocation's budget too (src/domain/call-budgets.ts): a Lambda stopped while waiting
  // would leave the claim for reconciliation instead of ending it.
  const waitUntil = new Date(
    Math.min(windowEnd.getTime(), clock.now().getTime() + (settings.paceWaitMs ?? SENDER_PACE_WAIT_MS)),
  );
  const turn = await limiter.waitForTurn('sms_per_second', SMS_LIMIT_KEY, waitUntil, 1);
  if (!turn.allowed || clock.now().getTime() >= windowEnd.getTime()) return 'late';
  return null;
}

function deliver({ sms, settings }: SendDeps, held: HeldClaim, written: Written): Promise<SmsReceipt> {
  return sms.send({
    to: storedE164(held.subscriber.phone),
    body: written.message.body,
    statusCallback: `${settings.publicBaseUrl}/twilio/status`,
    validUntil: held.delivery.window_end,
  });
}

/** The provider did not take the message: each kind of refusal ends the delivery its own way. */
async function endAfterRefusal(
  deps: SendDeps,
  held: HeldClaim,
  written: Written,
  error: unknown,
): Promise<SendOutcome> {
  if (!(error instanceof SmsError)) throw error; // a bug, not a refusal: the claim stays for reconcile
  if (error instanceof SmsOutcomeUnknown) return leaveForReconciliation(deps, held, written, error);
  if (error instanceof RecipientOptedOut) return optOutAtCarrier(deps, held, written, error);
  held.log.error('twilio refused the message', { code: error.code, retryable: error.retryable, error });
  const reason = error.retryable ? 'twilio_unavailable' : 'twilio_rejected';
  return endUnsent(deps, held, { state: 'failed', reason, code: error.code }, written);
}

// ── Recording ─────────────────────────────────────────────────────────────────────────────────────────

/** Twilio has the message: record it, its cost and its quota use in one transaction. */
async function recordSend(
  { db, clock, settings }: SendDeps,
  held: HeldClaim,
  written: Written,
  receipt: SmsReceipt,
): Promise<SendOutcome> {
  const { delivery, log } = held;
  const { message } = written;
  const segments = receipt.segments ?? 1; // the body was checked to be one segment
  const costUsd = estimateCost(
    { tokensIn: message.tokensIn, tokensOut: message.tokensOut, segments },
    settings.prices,
  ).totalUSD;
  const sentAt = clock.now();
  try {
    // Retried on a fresh connection if the database drops us (a failover). The usage is added only by
    // the attempt that records it, so a retry after a commit whose answer was lost adds nothing twice.
    await withDbRetry(() =>
      db.transaction().execute(async (trx) => {
        const recorded = await recordSent(trx, delivery.id, {
          messageSid: receipt.sid,
          status: receipt.status,
          sentAt,
          body: message.body,
          segments,
          model: message.model,
          fallback: message.fallback,
          tokensIn: message.tokensIn,
          tokensOut: message.tokensOut,
          costUsd,
          replacementReasons: message.replaced ?? null,
        });
        if (recorded) {
          await addUsage(trx, held.usageDay, dailyUsage(written, { segments, costUsd }));
          await addQuotaUse(trx, delivery.local_date);
        }
      }),
    );
  } catch (error) {
    // The claim stays `sending` and the reconcile job marks it `unknown`.
    log.error('sent but not recorded', { messageSid: receipt.sid, error });
    throw error;
  }
  log.info('message sent', {
    messageSid: receipt.sid,
    segments,
    fallback: message.fallback,
    model: message.model,
  });
  return {
    outcome: 'sent',
    deliveryId: delivery.id,
    messageSid: receipt.sid,
    segments,
    fallback: message.fallback,
    usage: { ...written.usage, costUsd },
  };
}

// ── Endings without a message ─────────────────────────────────────────────────────────────────────────

/** Skipped before the quota point was taken and before any writing: nothing to give back or record. */
async function skipBeforeWriting({ db }: SendDeps, claim: Claim, reason: SkipReason): Promise<SendOutcome> {
  await finishClaim(db, claim.delivery.id, { state: 'skipped', reason });
  claim.log.info('delivery skipped', { reason });
  return { outcome: 'skipped', deliveryId: claim.delivery.id, reason };
}

/**
 * Nothing went out after the quota point was taken: record what writing used (when it ran) with the end
 * of the claim, then give the quota point back.
 */
async function endUnsent(
  { db, limiter }: SendDeps,
  held: HeldClaim,
  end: Unsent,
  written?: Written,
): Promise<SendOutcome> {
  const deliveryId = held.delivery.id;
  await db.transaction().execute(async (trx) => {
    await finishClaim(trx, deliveryId, {
      state: end.state,
      reason: end.reason,
      ...(end.state === 'failed' && { errorCode: end.code }),
    });
    if (written) await addUsage(trx, held.usageDay, dailyUsage(written));
  });
  await limiter.refund('sms_per_day', held.delivery.local_date, 1);
  const usage = written && { usage: written.usage };
  if (end.state === 'skipped') {
    held.log.info('delivery skipped', { reason: end.reason });
    return { outcome: 'skipped', deliveryId, reason: end.reason, ...usage };
  }
  return { outcome: 'failed', deliveryId, code: end.code, reason: end.reason, ...usage };
}

/** It may have gone out: never resend, leave it for reconciliation, keep the quota point taken. */
async function leaveForReconciliation(
  { db }: SendDeps,
  held: HeldClaim,
  written: Written,
  error: SmsOutcomeUnknown,
): Promise<SendOutcome> {
  const deliveryId = held.delivery.id;
  await db.transaction().execute(async (trx) => {
    await finishClaim(trx, deliveryId, { state: 'unknown', reason: 'twilio_outcome_unknown' });
    await addUsage(trx, held.usageDay, dailyUsage(written));
  });
  held.log.error('twilio outcome unknown; delivery left for reconciliation', { error });
  return {
    outcome: 'failed',
    deliveryId,
    code: null,
    reason: 'twilio_outcome_unknown',
    usage: written.usage,
  };
}

/** The carrier or the provider has the subscriber's STOP: the one opt-out path, as for an SMS STOP. */
async function optOutAtCarrier(
  { db, clock, scheduler, limiter }: SendDeps,
  held: HeldClaim,
  written: Written,
  error: RecipientOptedOut,
): Promise<SendOutcome> {
  const { delivery, subscriber, log } = held;
  const optOut = await db.transaction().execute(async (trx) => {
    await finishClaim(trx, delivery.id, {
      state: 'failed',
      reason: 'opted_out_at_carrier',
      errorCode: error.code,
    });
    const out = await optOutSubscriber(trx, subscriber.id, {
      source: 'carrier',
      now: clock.now(),
      triggerText: `provider refused the send: ${error.message}`,
    });
    await addUsage(trx, held.usageDay, dailyUsage(written));
    return out;
  });
  await removeSchedules(scheduler, optOut.cancelledDeliveryIds);
  await limiter.refund('sms_per_day', delivery.local_date, 1);
  log.info('the provider reports the subscriber unsubscribed; opted out', {
    to: maskPhone(subscriber.phone),
    cancelledDeliveries: optOut.cancelledDeliveryIds.length,
  });
  return {
    outcome: 'failed',
    deliveryId: delivery.id,
    code: error.code,
    reason: 'opted_out_at_carrier',
    usage: written.usage,
  };
}
