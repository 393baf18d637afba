// Daily reconciliation: status callbacks do get lost, so once a day ask Twilio's Messages API about every
// delivery still open 24 h after it was claimed, and record what Twilio says. Claims a crashed sender left
// in `sending` are first marked `unknown` (never resent automatically; Twilio is asked about them).
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Db, DbOrTrx } from '../db/connection.js';
import { markStaleClaimsUnknown } from '../db/repositories/deliveries/sending.js';
import {
  type ClaimBeforeReconcile,
  findOpenDeliveries,
  lockClaim,
  markNeverSent,
  type OpenDelivery,
  recordObservedStatus,
  setDeliveryCost,
} from '../db/repositories/reconciliation.js';
import { addQuotaUse, addUsage, usageDay } from '../db/repositories/usage.js';
import { estimateCost, type Prices } from '../domain/cost.js';
import { parseE164 } from '../domain/phone.js';
import { chooseCandidate } from '../domain/reconciliation.js';
import { correlated, logger as defaultLogger } from '../logger.js';
import { MetricName } from '../metrics.js';
import type { Clock, MessageStatusLookup, MetricsSink, ProviderMessage } from './ports.js';

const HOUR_MS = 3_600_000;
/** A Lambda runs at most 15 minutes, so an older `sending` claim is not in flight any more. */
const STALE_CLAIM_MS = 15 * 60_000;

export interface ReconcileOptions {
  /** Only deliveries claimed at least this long ago. Default 24 h. */
  olderThanHours?: number;
  /** Give up on deliveries claimed longer ago than this (Twilio may never send a final status). Default 7. */
  maxAgeDays?: number;
  /** At most this many deliveries per run. Default 500. */
  limit?: number;
  deadline?: Date;
}

export interface ReconcileResult {
  /** Claims left in `sending` by a sender that stopped mid-send, now `unknown`. */
  staleClaims: number;
  checked: number;
  /** Twilio knew the message: its status (and SID, when it was missing) is now recorded. */
  updated: number;
  /** Claimed, no SID, and none of Twilio's messages to that number has our text: marked failed (never sent). */
  markedNeverSent: number;
  /** Twilio does not know the recorded SID. */
  notFound: number;
  /** Our text cannot be told apart (no stored body, a text Twilio erased, ours twice): left for an operator. */
  ambiguous: number;
  errors: number;
  /** How many of the open deliveries the deadline left for the next run. */
  remaining: number;
}

export interface ReconcileDeps {
  db: Db;
  lookup: MessageStatusLookup;
  clock: Clock;
  metrics: MetricsSink;
  /** To count the cost of a message found sent (SMS_PRICE_PER_SEGMENT_USD and the token prices). */
  prices: Prices;
  logger?: Logger;
}

const OUTCOME_METRIC: Record<string, string> = {
  delivered: MetricName.MessagesDelivered,
  undelivered: MetricName.MessagesUndelivered,
  failed: MetricName.MessagesFailed,
};

type Outcome = 'updated' | 'markedNeverSent' | 'notFound' | 'ambiguous' | 'unchanged';

export async function reconcileDeliveries(
  deps: ReconcileDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const log = deps.logger ?? defaultLogger;
  const now = deps.clock.now();
  const staleClaims = await markStaleClaimsUnknown(deps.db, new Date(now.getTime() - STALE_CLAIM_MS));
  if (staleClaims > 0)
    log.warn('claims left in sending marked unknown for reconciliation', { count: staleClaims });
  const open = await findOpenDeliveries(
    deps.db,
    {
      olderThan: new Date(now.getTime() - (options.olderThanHours ?? 24) * HOUR_MS),
      notBefore: new Date(now.getTime() - (options.maxAgeDays ?? 7) * 24 * HOUR_MS),
    },
    options.limit ?? 500,
  );
  const result: ReconcileResult = {
    staleClaims,
    checked: 0,
    updated: 0,
    markedNeverSent: 0,
    notFound: 0,
    ambiguous: 0,
    errors: 0,
    remaining: 0,
  };
  for (const [i, delivery] of open.entries()) {
    if (options.deadline && deps.clock.now() >= options.deadline) {
      result.remaining = open.length - i;
      break;
    }
    const dlog = correlated({ deliveryId: delivery.id, messageSid: delivery.message_sid ?? undefined }, log);
    result.checked += 1;
    try {
      const outcome = await reconcileOne(deps, delivery, dlog);
      if (outcome !== 'unchanged') result[outcome] += 1;
    } catch (error) {
      result.errors += 1;
      dlog.error('reconciliation failed for this delivery; the next run retries it', { error });
    }
  }
  if (result.updated + result.markedNeverSent > 0)
    deps.metrics.count(MetricName.DeliveriesReconciled, result.updated + result.markedNeverSent);
  log.info('reconciliation done', { reconcile: result });
  return result;
}

async function reconcileOne(deps: ReconcileDeps, delivery: OpenDelivery, log: Logger): Promise<Outcome> {
  if (delivery.message_sid) {
    const message = await deps.lookup.fetchStatus(delivery.message_sid);
    if (!message) {
      log.warn('Twilio has no message with the recorded SID', { state: delivery.state });
      if (
        delivery.state !== 'sent' &&
        (await markNeverSent(deps.db, delivery.id, 'reconcile: SID unknown to Twilio'))
      )
        return 'markedNeverSent';
      return 'notFound';
    }
    return record(deps, delivery, message, log);
  }

  // Claimed but no SID recorded (the create call timed out or the sender died mid-call): look for a
  // message Twilio sent to this number between the claim and the end of the send window (plus slack).
  const from = new Date((delivery.claimed_at ?? delivery.window_end).getTime() - 5 * 60_000);
  const until = new Date(delivery.window_end.getTime() + HOUR_MS);
  const to = parseE164(delivery.phone);
  if (!to) {
    // The column's CHECK is looser than libphonenumber: a stored number it no longer accepts cannot be
    // looked up, so an operator decides.
    log.warn('stored number is not a valid E.164 number; left for an operator');
    return 'unchanged';
  }
  const choice = chooseCandidate(await deps.lookup.findSentTo(to, from, until), delivery.body);
  if (choice.kind === 'none') {
    const marked = await markNeverSent(deps.db, delivery.id, 'reconcile: no message found at Twilio');
    if (marked) log.info('no message reached Twilio for this delivery; marked failed');
    return marked ? 'markedNeverSent' : 'unchanged';
  }
  if (choice.kind === 'ambiguous') {
    log.warn('cannot tell which message to this number is ours by its text; left for an operator', {
      candidates: choice.count,
    });
    return 'ambiguous';
  }
  return record(deps, delivery, choice.message, log);
}

async function record(
  deps: ReconcileDeps,
  delivery: OpenDelivery,
  message: ProviderMessage,
  log: Logger,
): Promise<Outcome> {
  const changed = await deps.db.transaction().execute(async (trx) => {
    const before = await lockClaim(trx, delivery.id);
    const recorded = await recordObservedStatus(trx, delivery.id, {
      messageSid: message.sid,
      status: message.status,
      errorCode: message.errorCode,
      sentAt: message.dateSent ?? message.dateCreated,
      segments: message.segments,
    });
    if (recorded && before && (before.state === 'sending' || before.state === 'unknown'))
      await countFoundSend(trx, delivery.id, before, message, { prices: deps.prices, now: deps.clock.now() });
    return recorded;
  });
  if (!changed) return 'unchanged';
  const metric = OUTCOME_METRIC[message.status];
  if (metric) deps.metrics.count(metric);
  log.info('recorded the status Twilio reports', {
    messageSid: message.sid,
    previousStatus: delivery.delivery_status,
    status: message.status,
    errorCode: message.errorCode,
  });
  return 'updated';
}

/**
 * A send the sender could not record went out after all: count it as recordSend would have (usage_daily of
 * the claim's UTC day, the local date's quota, the delivery's cost). Runs once, in the transaction that
 * moves the delivery out of sending/unknown. The sender already counted the writing of an `unknown` send;
 * a claim it never finished (a crash) counted nothing, so its tokens are added here.
 */
async function countFoundSend(
  trx: DbOrTrx,
  deliveryId: string,
  before: ClaimBeforeReconcile,
  message: ProviderMessage,
  { prices, now }: { prices: Prices; now: Date },
): Promise<void> {
  const segments = message.segments ?? before.segments ?? 1;
  const tokensIn = before.tokens_in ?? 0;
  const tokensOut = before.tokens_out ?? 0;
  const cost = estimateCost({ tokensIn, tokensOut, segments }, prices);
  const writingCounted = before.state === 'unknown' && before.reason === 'twilio_outcome_unknown';
  await setDeliveryCost(trx, deliveryId, cost.totalUSD);
  await addUsage(trx, usageDay(before.claimed_at ?? now), {
    smsSent: 1,
    smsSegments: segments,
    ...(writingCounted ? { costUsd: cost.smsUSD } : { tokensIn, tokensOut, costUsd: cost.totalUSD }),
  });
  await addQuotaUse(trx, before.local_date);
}
