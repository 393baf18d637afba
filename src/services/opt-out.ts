// The one opt-out path, whoever asks: an SMS keyword or FCC phrase, the carrier (a status callback or a send
// refused because the recipient unsubscribed), the API's DELETE, the operator's CLI. All of them end in the
// SQL function opt_out_subscriber (row lock, planned deliveries cancelled, status, one consent event when the
// status changed); the inbound and status-callback functions call it from inside their own statement. The
// caller then removes the cancelled deliveries' schedules, after its transaction commits.
import type { DbOrTrx } from '../db/connection.js';
import { type OptOutRow, optOutSubscriberRow } from '../db/repositories/subscribers.js';
import { logger } from '../logger.js';
import type { DeliveryScheduler } from './ports.js';

export type OptOutRequest = OptOutRow;

export interface OptOutOutcome {
  /** False when no subscriber has this id. */
  found: boolean;
  /** False when the subscriber had already opted out (no new ledger entry). */
  changed: boolean;
  /** Deliveries marked cancelled; remove their schedules once the transaction commits. */
  cancelledDeliveryIds: string[];
}

/** Opts the subscriber out, inside the caller's transaction when `db` is one. */
export function optOutSubscriber(
  db: DbOrTrx,
  subscriberId: number,
  request: OptOutRequest,
): Promise<OptOutOutcome> {
  return optOutSubscriberRow(db, subscriberId, request);
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
