// Deliveries as seen from webhooks: Twilio status callbacks (stored, then applied forward-only) and
// cancellation of planned deliveries when a subscriber opts out or is paused.

import { foldStatuses } from '../../../domain/delivery-status.js';
import type { DbOrTrx } from '../../connection.js';
import type { Delivery } from '../../schema.js';

/** Stores one callback; false when (sid, status) was already stored (Twilio repeated it). */
export async function insertStatusEventIfNew(
  db: DbOrTrx,
  event: { messageSid: string; status: string; errorCode: number | null },
): Promise<boolean> {
  const row = await db
    .insertInto('delivery_status_events')
    .values({ message_sid: event.messageSid, status: event.status, error_code: event.errorCode })
    .onConflict((oc) => oc.columns(['message_sid', 'status']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export function findDeliveryBySid(
  db: DbOrTrx,
  messageSid: string,
  options: { forUpdate?: boolean } = {},
): Promise<Delivery | undefined> {
  const query = db.selectFrom('deliveries').selectAll().where('message_sid', '=', messageSid);
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export function setDeliveryStatus(
  db: DbOrTrx,
  id: string,
  status: string,
  errorCode: number | null,
): Promise<Delivery> {
  return db
    .updateTable('deliveries')
    .set((eb) => ({
      delivery_status: status,
      error_code: errorCode ?? eb.ref('error_code'),
    }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Re-applies every stored callback for `messageSid` to its delivery, forward only. For the sender: a
 * callback can arrive before the sender has recorded the MessageSid; calling this after recording it
 * catches up. Returns the delivery, or undefined when no delivery has this sid.
 */
export async function reconcileDeliveryStatus(
  db: DbOrTrx,
  messageSid: string,
): Promise<Delivery | undefined> {
  const delivery = await findDeliveryBySid(db, messageSid, { forUpdate: true });
  if (!delivery) return undefined;
  const events = await db
    .selectFrom('delivery_status_events')
    .select(['status', 'error_code'])
    .where('message_sid', '=', messageSid)
    .orderBy('id')
    .execute();
  const status = foldStatuses(
    events.map((e) => e.status),
    delivery.delivery_status,
  );
  if (status === delivery.delivery_status) return delivery;
  const errorCode = events.find((e) => e.status === status)?.error_code ?? null;
  return setDeliveryStatus(db, delivery.id, status as string, errorCode);
}

/**
 * Cancels the subscriber's deliveries that are planned but not yet claimed by the sender. Returns their
 * ids so the caller can remove their schedules after the transaction commits.
 */
export async function cancelPlannedDeliveries(
  db: DbOrTrx,
  subscriberId: number,
  reason: string,
): Promise<string[]> {
  const rows = await db
    .updateTable('deliveries')
    .set({ state: 'cancelled', reason })
    .where('subscriber_id', '=', subscriberId)
    .where('state', '=', 'planned')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}
