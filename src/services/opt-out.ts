// Opting a subscriber out, whoever asked (an SMS, the carrier via Twilio error 21610, or the API): status,
// consent ledger entry, and today's planned delivery cancelled. Shared by the inbound, status-callback and
// subscriber services so every path does all three.
import type { Trx } from '../db/connection.js';
import { recordConsentEvent } from '../db/repositories/consent.js';
import { cancelPlannedDeliveries } from '../db/repositories/deliveries/callbacks.js';
import { updateSubscriber } from '../db/repositories/subscribers.js';
import type { ConsentSource, Subscriber } from '../db/schema.js';
import { logger } from '../logger.js';
import type { DeliveryScheduler } from './ports.js';

export interface OptOutRequest {
  source: ConsentSource;
  now: Date;
  messageSid?: string | null;
  triggerText?: string | null;
  /** DELETE /api/subscribers/:phone also erases the name. */
  eraseName?: boolean;
}

export interface OptOutOutcome {
  subscriber: Subscriber;
  /** False when the subscriber had already opted out (no new ledger entry). */
  changed: boolean;
  /** Deliveries marked cancelled; their schedules are removed once the transaction commits. */
  cancelledDeliveryIds: string[];
}

/** Runs inside the caller's transaction, on a subscriber row the caller has locked. */
export async function optOutSubscriber(
  trx: Trx,
  subscriber: Subscriber,
  request: OptOutRequest,
): Promise<OptOutOutcome> {
  const cancelledDeliveryIds = await cancelPlannedDeliveries(trx, subscriber.id, 'opted_out');
  const alreadyOut = subscriber.status === 'opted_out';
  const needsErase = request.eraseName === true && subscriber.name !== null;
  if (alreadyOut && !needsErase) return { subscriber, changed: false, cancelledDeliveryIds };
  const updated = await updateSubscriber(trx, subscriber.id, {
    status: 'opted_out',
    opted_out_at: alreadyOut ? (subscriber.opted_out_at ?? request.now) : request.now,
    ...(request.eraseName ? { name: null } : {}),
  });
  if (!alreadyOut) {
    await recordConsentEvent(trx, {
      subscriber_id: subscriber.id,
      phone: subscriber.phone,
      kind: 'opt_out',
      source: request.source,
      trigger_text: request.triggerText ?? null,
      message_sid: request.messageSid ?? null,
    });
  }
  return { subscriber: updated, changed: !alreadyOut, cancelledDeliveryIds };
}

/**
 * Removes the schedules of cancelled deliveries. Called after commit: a failure here only leaves a
 * schedule that fires for a delivery no longer `planned`, which the sender ignores, so it is logged and
 * never fails the request.
 */
export async function removeSchedules(scheduler: DeliveryScheduler, deliveryIds: string[]): Promise<void> {
  await Promise.all(
    deliveryIds.map(async (id) => {
      try {
        await scheduler.cancel(id);
      } catch (error) {
        logger.warn('could not remove the schedule of a cancelled delivery', { deliveryId: id, error });
      }
    }),
  );
}
