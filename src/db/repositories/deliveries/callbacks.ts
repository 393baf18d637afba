// Deliveries as seen from webhooks: status callbacks (stored, then applied forward-only, in one SQL
// function call), the sender's catch-up on callbacks that came first, and cancellation of planned
// deliveries when a subscriber is paused (an opt-out cancels them inside opt_out_subscriber).

import { sql } from 'kysely';
import { foldStatuses } from '../../../domain/delivery-status.js';
import type { DbOrTrx } from '../../connection.js';
import type { Delivery } from '../../schema.js';

export interface StatusCallbackRow {
  messageSid: string;
  status: string;
  /** The provider's error code, stored with the event and on the delivery. */
  errorCode: number | null;
  /** The provider says the recipient has opted out: the subscriber is opted out (source carrier). */
  recipientOptedOut: boolean;
  /** The recipient's number, to find the subscriber when no delivery has this MessageSid. */
  to: string | null;
  now: Date;
  /** Statuses one MessageSid may have stored per minute before the next is refused; null for no limit. */
  limitPerMinute: number | null;
}

export type StatusCallbackApplied =
  | {
      outcome: 'applied';
      knownDelivery: boolean;
      advanced: boolean;
      optedOut: boolean;
      cancelledDeliveryIds: string[];
    }
  | { outcome: 'duplicate' }
  | { outcome: 'limited'; retryAfterMs: number };

/**
 * Stores the callback once per (MessageSid, status), moves the delivery's status forward only, and opts
 * the recipient out when the provider says so: receive_status_callback, one statement.
 */
export async function receiveStatusCallback(
  db: DbOrTrx,
  row: StatusCallbackRow,
): Promise<StatusCallbackApplied> {
  const { rows } = await sql<{
    outcome: 'applied' | 'duplicate' | 'limited';
    known_delivery: boolean;
    advanced: boolean;
    opted_out: boolean;
    cancelled: string[];
    retry_after_ms: number | null;
  }>`
    SELECT * FROM receive_status_callback(${row.messageSid}, ${row.status}, ${row.errorCode}::integer,
      ${row.recipientOptedOut}, ${row.to}, ${row.now}, ${row.limitPerMinute}::integer)`.execute(db);
  const r = rows[0];
  if (!r) throw new Error('receive_status_callback returned no row');
  if (r.outcome === 'duplicate') return { outcome: 'duplicate' };
  if (r.outcome === 'limited') return { outcome: 'limited', retryAfterMs: r.retry_after_ms ?? 60_000 };
  return {
    outcome: 'applied',
    knownDelivery: r.known_delivery,
    advanced: r.advanced,
    optedOut: r.opted_out,
    cancelledDeliveryIds: r.cancelled,
  };
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
