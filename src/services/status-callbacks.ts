// Delivery status callbacks: every event stored once per (MessageSid, status), the delivery's status moved
// forward only, and a recipient who opted out with the carrier opted out here too — all in one SQL function
// call (receive_status_callback), retried briefly while the database is unreachable and kept in the webhook
// spool if it stays so.
import type { Db } from '../db/connection.js';
import { receiveStatusCallback } from '../db/repositories/deliveries/callbacks.js';
import { maskPhone } from '../domain/phone.js';
import { logger } from '../logger.js';
import { type DbRetryPolicy, withDbRetry } from './db-retry.js';
import { keepOrRethrow } from './inbound.js';
import { removeSchedules } from './opt-out.js';
import type { Clock, DeliveryScheduler, WebhookSpool } from './ports.js';

export interface StatusCallback {
  messageSid: string;
  status: string;
  errorCode: number | null;
  /** The provider refused the message because the recipient opted out (Twilio's 21610, mapped by the route). */
  recipientOptedOut: boolean;
  to: string | null;
}

export interface StatusCallbackDeps {
  db: Db;
  scheduler: DeliveryScheduler;
  clock: Clock;
  /** RATE_LIMIT_STATUS_PER_MIN: statuses one MessageSid may store a minute. */
  perMessagePerMinute?: number | null;
  spool?: WebhookSpool;
  retry?: DbRetryPolicy;
}

export interface StatusCallbackResult {
  duplicate: boolean;
  advanced: boolean;
  optedOut: boolean;
  /** Set when this MessageSid is over its per-minute limit: nothing was stored. */
  limitedForMs?: number;
}

/** Applies one callback; `receivedAt` dates a carrier opt-out. */
export async function applyStatusCallback(
  deps: Omit<StatusCallbackDeps, 'spool'>,
  callback: StatusCallback,
  receivedAt: Date,
): Promise<StatusCallbackResult> {
  const applied = await withDbRetry(
    () =>
      receiveStatusCallback(deps.db, {
        ...callback,
        now: receivedAt,
        limitPerMinute: deps.perMessagePerMinute ?? null,
      }),
    deps.retry,
  );
  const outcome = { duplicate: false, advanced: false, optedOut: false };
  if (applied.outcome === 'limited') return { ...outcome, limitedForMs: applied.retryAfterMs };
  if (applied.outcome === 'duplicate') return { ...outcome, duplicate: true };
  await removeSchedules(deps.scheduler, applied.cancelledDeliveryIds);
  const { cancelledDeliveryIds: _ids, outcome: _o, ...result } = applied;
  // About three callbacks per message sent: one INFO line each would be the largest share of the log bill
  // and of each request's CPU. A carrier opt-out is the exception worth a line at INFO.
  const log = result.optedOut ? logger.info.bind(logger) : logger.debug.bind(logger);
  log('status callback', {
    messageSid: callback.messageSid,
    status: callback.status,
    errorCode: callback.errorCode,
    to: maskPhone(callback.to),
    ...result,
  });
  return { duplicate: false, ...result };
}

export async function recordStatusCallback(
  deps: StatusCallbackDeps,
  callback: StatusCallback,
): Promise<StatusCallbackResult> {
  const receivedAt = deps.clock.now();
  try {
    return await applyStatusCallback(deps, callback, receivedAt);
  } catch (error) {
    return keepOrRethrow(
      deps.spool,
      { type: 'status', ...callback, receivedAt: receivedAt.toISOString() },
      error,
    );
  }
}
