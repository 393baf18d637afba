// Use case: send one subscriber's message for the day, exactly once, or end the delivery with a reason.
// Scheduler delivers at least once, so everything external happens only after an atomic claim.
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  claimDelivery,
  findDeliveryState,
  findSubscriber,
  finishClaim,
  recentBodies,
  recordSent,
} from '../db/repositories/deliveries/sending.js';
import { addQuotaUse, addUsage, getUsage, quotaUsed, usageDay } from '../db/repositories/usage.js';
import type { DeliveryState } from '../db/schema.js';
import { estimateCost, type Prices, pricesFromConfig } from '../domain/cost.js';
import { countSegments } from '../domain/gsm.js';
import type { ReplacementReason } from '../domain/message-quality.js';
import { type E164, maskPhone } from '../domain/phone.js';
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
  type SmsSender,
  type WrittenMessage,
} from './ports.js';

export type SkipReason = 'opted_out' | 'not_active' | 'paused' | 'early' | 'late' | 'quota' | 'cost_cap';

/** What writing the message used, once the writer ran: the handler publishes it as metrics. */
export interface WriteUsage {
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
  | { outcome: 'failed'; deliveryId: string; code: number | null; reason: string; usage?: WriteUsage };

export interface SenderSettings {
  /** PUBLIC_BASE_URL without a trailing slash. */
  publicBaseUrl: string;
  messagesPerDay: number;
  dailyCostLimitUsd: number;
  prices: Prices;
  /** How long the writer (OpenAI with retries, then the fallback) may take. */
  writeTimeoutMs: number;
}

export function senderSettings(config: Settings & { PUBLIC_BASE_URL: string }): SenderSettings {
  return {
    publicBaseUrl: config.PUBLIC_BASE_URL,
    messagesPerDay: config.TWILIO_MESSAGES_PER_DAY,
    dailyCostLimitUsd: config.DAILY_COST_LIMIT_USD,
    prices: pricesFromConfig(config),
    writeTimeoutMs: 20_000,
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

export async function sendDailyMessage(deps: SendDeps, deliveryId: string): Promise<SendOutcome> {
  const { db, clock, settings, limiter } = deps;
  if (!UUID.test(deliveryId)) return { outcome: 'not_found', deliveryId };

  // 1. Claim before anything external: only one invocation ever gets past this line.
  const delivery = await claimDelivery(db, deliveryId, clock.now());
  if (!delivery) {
    const existing = await findDeliveryState(db, deliveryId);
    if (!existing) return { outcome: 'not_found', deliveryId };
    logger.info('delivery already taken', { deliveryId, state: existing.state });
    return { outcome: 'duplicate', deliveryId, state: existing.state };
  }
  const log = logger.createChild({ persistentKeys: { deliveryId } });
  // The daily SMS quota counts per subscriber-local date, as the planner does (docs/planner.md): the
  // planner plans at most the quota on each date, and this is the backstop.
  const quotaDay = delivery.local_date;

  const skip = async (
    reason: SkipReason,
    refundDayQuota = false,
    usage?: WriteUsage,
  ): Promise<SendOutcome> => {
    if (refundDayQuota) await limiter.refund('sms_per_day', quotaDay, 1);
    await finishClaim(db, deliveryId, { state: 'skipped', reason });
    log.info('delivery skipped', { reason });
    return usage
      ? { outcome: 'skipped', deliveryId, reason, usage }
      : { outcome: 'skipped', deliveryId, reason };
  };

  // 2. Re-check everything that may have changed since planning.
  const subscriber = await findSubscriber(db, delivery.subscriber_id);
  if (subscriber?.status !== 'active') {
    return skip(subscriber?.status === 'opted_out' ? 'opted_out' : 'not_active');
  }
  if (subscriber.paused) return skip('paused');
  const now = clock.now();
  if (now.getTime() >= delivery.window_end.getTime()) return skip('late');
  if (now.getTime() < delivery.window_start.getTime() - EARLY_TOLERANCE_MS) return skip('early');
  const day = usageDay(now);
  if ((await quotaUsed(db, quotaDay)) >= settings.messagesPerDay) return skip('quota');
  const usage = await getUsage(db, day);
  if ((usage?.estimated_cost_usd ?? 0) >= settings.dailyCostLimitUsd) return skip('cost_cap');
  const quota = await limiter.consume('sms_per_day', quotaDay, 1);
  if (!quota.allowed) return skip('quota');

  // 3. Write. The OpenAI writer falls back to the curated library itself; this catch is the last resort.
  let written: WrittenMessage;
  try {
    const writeDeadline = new Date(
      Math.min(delivery.window_end.getTime(), clock.now().getTime() + settings.writeTimeoutMs),
    );
    written = await deps.writer.write(
      {
        firstName: subscriber.name,
        recent: await recentBodies(db, subscriber.id, 30),
        localDate: delivery.local_date,
      },
      writeDeadline,
    );
  } catch (err) {
    log.error('message writer failed', { error: err });
    await limiter.refund('sms_per_day', quotaDay, 1);
    await finishClaim(db, deliveryId, { state: 'failed', reason: 'writer_error' });
    return { outcome: 'failed', deliveryId, code: null, reason: 'writer_error' };
  }
  const openaiUsage = {
    openaiRequests: written.requests ?? 0,
    tokensIn: written.tokensIn,
    tokensOut: written.tokensOut,
    fallbacks: written.fallback ? 1 : 0,
    // Tokens cost money whether or not the SMS goes out; a sent message replaces this with its full cost.
    costUsd: estimateCost(
      { tokensIn: written.tokensIn, tokensOut: written.tokensOut, segments: 0 },
      settings.prices,
    ).totalUSD,
  };
  const writeUsage: WriteUsage = {
    openaiRequests: openaiUsage.openaiRequests,
    tokens: written.tokensIn + written.tokensOut,
    costUsd: openaiUsage.costUsd,
    fallback: written.fallback,
    replaced: written.replaced ?? [],
  };
  const segmentCount = countSegments(written.body);
  if (segmentCount.encoding !== 'GSM-7' || segmentCount.segments !== 1) {
    // Writers guarantee one GSM-7 segment; a breach is a bug, and a bug must not cost the subscriber money.
    return fail(deps, deliveryId, { day, quotaDay }, openaiUsage, writeUsage, null, 'invalid_body');
  }

  // 4. Opt-outs can arrive while the model was writing: look once more, then wait for the global pace.
  const fresh = await findSubscriber(db, subscriber.id);
  if (fresh?.status !== 'active' || fresh.paused) {
    await addUsage(db, day, openaiUsage);
    return skip(
      fresh?.status === 'opted_out' ? 'opted_out' : fresh?.paused ? 'paused' : 'not_active',
      true,
      writeUsage,
    );
  }
  const turn = await limiter.waitForTurn('sms_per_second', SMS_LIMIT_KEY, delivery.window_end, 1);
  if (!turn.allowed || clock.now().getTime() >= delivery.window_end.getTime()) {
    await addUsage(db, day, openaiUsage);
    return skip('late', true, writeUsage);
  }

  // 5. Send, then record the message and its cost in one transaction.
  let receipt: Awaited<ReturnType<SmsSender['send']>>;
  try {
    receipt = await deps.sms.send({
      to: subscriber.phone as E164,
      body: written.body,
      statusCallback: `${settings.publicBaseUrl}/twilio/status`,
      validUntil: delivery.window_end,
    });
  } catch (err) {
    if (!(err instanceof SmsError)) throw err;
    if (err instanceof SmsOutcomeUnknown) {
      // It may have gone out: never resend, leave it for reconciliation, keep the quota point taken.
      await db.transaction().execute(async (trx) => {
        await finishClaim(trx, deliveryId, { state: 'unknown', reason: 'twilio_outcome_unknown' });
        await addUsage(trx, day, openaiUsage);
      });
      log.error('twilio outcome unknown; delivery left for reconciliation', { error: err });
      return {
        outcome: 'failed',
        deliveryId,
        code: null,
        reason: 'twilio_outcome_unknown',
        usage: writeUsage,
      };
    }
    if (err instanceof RecipientOptedOut) {
      // The carrier or the provider has the subscriber's STOP: the one opt-out path, as for an SMS STOP.
      const optOut = await db.transaction().execute(async (trx) => {
        await finishClaim(trx, deliveryId, {
          state: 'failed',
          reason: 'opted_out_at_carrier',
          errorCode: err.code,
        });
        const out = await optOutSubscriber(trx, subscriber.id, {
          source: 'carrier',
          now: clock.now(),
          triggerText: `provider refused the send: ${err.message}`,
        });
        await addUsage(trx, day, openaiUsage);
        return out;
      });
      await removeSchedules(deps.scheduler, optOut.cancelledDeliveryIds);
      await limiter.refund('sms_per_day', quotaDay, 1);
      log.info('the provider reports the subscriber unsubscribed; opted out', {
        to: maskPhone(subscriber.phone),
        cancelledDeliveries: optOut.cancelledDeliveryIds.length,
      });
      return {
        outcome: 'failed',
        deliveryId,
        code: err.code,
        reason: 'opted_out_at_carrier',
        usage: writeUsage,
      };
    }
    log.error('twilio refused the message', { code: err.code, retryable: err.retryable, error: err });
    return fail(
      deps,
      deliveryId,
      { day, quotaDay },
      openaiUsage,
      writeUsage,
      err.code,
      err.retryable ? 'twilio_unavailable' : 'twilio_rejected',
    );
  }

  const segments = receipt.segments ?? segmentCount.segments;
  const costUsd = estimateCost(
    { tokensIn: written.tokensIn, tokensOut: written.tokensOut, segments },
    settings.prices,
  ).totalUSD;
  const sentAt = clock.now();
  try {
    // Twilio has the message: recording it is retried on a fresh connection if the database drops us
    // (a failover). The usage is added only by the attempt that records it, so a retry after a commit
    // whose answer was lost adds nothing twice.
    await withDbRetry(() =>
      db.transaction().execute(async (trx) => {
        const recorded = await recordSent(trx, deliveryId, {
          messageSid: receipt.sid,
          status: receipt.status,
          sentAt,
          body: written.body,
          segments,
          model: written.model,
          fallback: written.fallback,
          tokensIn: written.tokensIn,
          tokensOut: written.tokensOut,
          costUsd,
          replacementReasons: written.replaced ?? null,
        });
        if (recorded) {
          await addUsage(trx, day, { ...openaiUsage, smsSent: 1, smsSegments: segments, costUsd });
          await addQuotaUse(trx, quotaDay);
        }
      }),
    );
  } catch (err) {
    // Twilio has the message; the claim stays `sending` and the reconcile job marks it `unknown`.
    log.error('sent but not recorded', { messageSid: receipt.sid, error: err });
    throw err;
  }
  log.info('message sent', {
    messageSid: receipt.sid,
    segments,
    fallback: written.fallback,
    model: written.model,
  });
  return {
    outcome: 'sent',
    deliveryId,
    messageSid: receipt.sid,
    segments,
    fallback: written.fallback,
    usage: { ...writeUsage, costUsd },
  };
}

async function fail(
  deps: SendDeps,
  deliveryId: string,
  { day, quotaDay }: { day: string; quotaDay: string },
  openaiUsage: Parameters<typeof addUsage>[2],
  usage: WriteUsage,
  code: number | null,
  reason: string,
): Promise<SendOutcome> {
  await deps.db.transaction().execute(async (trx) => {
    await finishClaim(trx, deliveryId, { state: 'failed', reason, errorCode: code });
    await addUsage(trx, day, openaiUsage);
  });
  await deps.limiter.refund('sms_per_day', quotaDay, 1);
  return { outcome: 'failed', deliveryId, code, reason, usage };
}
