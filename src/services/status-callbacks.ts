// Twilio delivery status callbacks: every event stored once per (MessageSid, status), the delivery's status
// moved forward only, and error 21610 (the recipient replied STOP to the carrier/Twilio) honoured as an
// opt-out.
import type { Db } from '../db/connection.js';
import {
  findDeliveryBySid,
  insertStatusEventIfNew,
  setDeliveryStatus,
} from '../db/repositories/deliveries/callbacks.js';
import { findSubscriberById, findSubscriberByPhone } from '../db/repositories/subscribers.js';
import { shouldAdvance } from '../domain/delivery-status.js';
import { maskPhone } from '../domain/phone.js';
import { logger } from '../logger.js';
import { optOutSubscriber, removeSchedules } from './opt-out.js';
import type { Clock, DeliveryScheduler } from './ports.js';

/** Twilio: "Attempt to send to unsubscribed recipient". */
export const UNSUBSCRIBED_RECIPIENT = 21610;

export interface StatusCallback {
  messageSid: string;
  status: string;
  errorCode: number | null;
  to: string | null;
}

export interface StatusCallbackDeps {
  db: Db;
  scheduler: DeliveryScheduler;
  clock: Clock;
}

export interface StatusCallbackResult {
  duplicate: boolean;
  /** False when no delivery has this MessageSid (the event is stored all the same). */
  knownDelivery: boolean;
  advanced: boolean;
  optedOut: boolean;
}

export async function recordStatusCallback(
  deps: StatusCallbackDeps,
  callback: StatusCallback,
): Promise<StatusCallbackResult> {
  const result = await deps.db.transaction().execute(async (trx) => {
    const outcome = { duplicate: false, knownDelivery: false, advanced: false, optedOut: false };
    const cancelled: string[] = [];
    if (!(await insertStatusEventIfNew(trx, callback))) return { ...outcome, duplicate: true, cancelled };

    const delivery = await findDeliveryBySid(trx, callback.messageSid, { forUpdate: true });
    if (delivery) {
      outcome.knownDelivery = true;
      if (shouldAdvance(delivery.delivery_status, callback.status)) {
        await setDeliveryStatus(trx, delivery.id, callback.status, callback.errorCode);
        outcome.advanced = true;
      }
    }
    if (callback.errorCode === UNSUBSCRIBED_RECIPIENT) {
      const subscriber = delivery
        ? await findSubscriberById(trx, delivery.subscriber_id, { forUpdate: true })
        : callback.to
          ? await findSubscriberByPhone(trx, callback.to, { forUpdate: true })
          : undefined;
      if (subscriber) {
        const out = await optOutSubscriber(trx, subscriber, {
          source: 'carrier',
          now: deps.clock.now(),
          messageSid: callback.messageSid,
        });
        outcome.optedOut = out.changed;
        cancelled.push(...out.cancelledDeliveryIds);
      }
    }
    return { ...outcome, cancelled };
  });
  await removeSchedules(deps.scheduler, result.cancelled);
  const { cancelled: _cancelled, ...outcome } = result;
  logger.info('status callback', {
    messageSid: callback.messageSid,
    status: callback.status,
    errorCode: callback.errorCode,
    to: maskPhone(callback.to),
    ...outcome,
  });
  return outcome;
}
