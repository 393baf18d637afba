// Deliveries whose outcome is still open long after the send, and the updates that close them.
import { sql } from 'kysely';
import type { DeliveryState } from '../../domain/delivery.js';
import { FINAL_STATUSES } from '../../domain/delivery-status.js';
import type { DbOrTrx } from '../connection.js';
import { advanceMessageStatus } from './message-statuses.js';

export interface OpenDelivery {
  id: string;
  state: DeliveryState;
  message_sid: string | null;
  delivery_status: string | null;
  claimed_at: Date | null;
  sent_at: Date | null;
  window_end: Date;
  body: string | null;
  phone: string;
}

/**
 * Deliveries in sending/unknown, or sent without a final delivery status, claimed (or sent) in
 * [notBefore, olderThan). Oldest first.
 */
export function findOpenDeliveries(
  db: DbOrTrx,
  range: { olderThan: Date; notBefore: Date },
  limit: number,
): Promise<OpenDelivery[]> {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .leftJoin('message_statuses as m', 'm.message_sid', 'd.message_sid')
    .select([
      'd.id',
      'd.state',
      'd.message_sid',
      'm.status as delivery_status',
      'd.claimed_at',
      'd.sent_at',
      'd.window_end',
      'd.body',
      's.phone',
    ])
    .where('d.state', 'in', ['sending', 'unknown', 'sent'])
    .where((eb) => eb.or([eb('m.status', 'is', null), eb('m.status', 'not in', [...FINAL_STATUSES])]))
    .where((eb) =>
      eb.or([
        eb.and([eb('d.claimed_at', '<', range.olderThan), eb('d.claimed_at', '>=', range.notBefore)]),
        eb.and([
          eb('d.claimed_at', 'is', null),
          eb('d.sent_at', '<', range.olderThan),
          eb('d.sent_at', '>=', range.notBefore),
        ]),
      ]),
    )
    .orderBy('d.claimed_at')
    .limit(limit)
    .execute();
}

export interface ObservedStatus {
  messageSid: string;
  status: string;
  errorCode: number | null;
  sentAt: Date | null;
  segments: number | null;
}

/**
 * Records what Twilio reports for a delivery: the SID (when it was missing), state `sent` (Twilio has the
 * message), the message's status and error code (forward only), plus a status event row. Only touches a
 * delivery that is still open, so a status callback that landed meanwhile wins.
 */
export async function recordObservedStatus(
  db: DbOrTrx,
  deliveryId: string,
  seen: ObservedStatus,
): Promise<boolean> {
  const updated = await db
    .updateTable('deliveries')
    .set({
      state: 'sent',
      message_sid: seen.messageSid,
      sent_at: sql`coalesce(sent_at, ${seen.sentAt})`,
      // Twilio's count (what it bills) over the one the sender worked out before the call.
      segments: sql`coalesce(${seen.segments}::smallint, segments)`,
    })
    .where('id', '=', deliveryId)
    .where('state', 'in', ['sending', 'unknown', 'sent'])
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('message_statuses as m')
            .select('m.message_sid')
            .whereRef('m.message_sid', '=', 'deliveries.message_sid')
            .where('m.status', 'in', [...FINAL_STATUSES]),
        ),
      ),
    )
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return false;
  await advanceMessageStatus(db, seen);
  await db
    .insertInto('delivery_status_events')
    .values({ message_sid: seen.messageSid, status: seen.status, error_code: seen.errorCode })
    .onConflict((oc) => oc.columns(['message_sid', 'status']).doNothing())
    .execute();
  return true;
}

/** What counting a reconciled send needs from the delivery, read under its row lock. */
export interface ClaimBeforeReconcile {
  state: DeliveryState;
  reason: string | null;
  local_date: string;
  claimed_at: Date | null;
  segments: number | null;
  tokens_in: number | null;
  tokens_out: number | null;
}

/**
 * Locks the delivery for the rest of the transaction and reads it: two reconcile runs at once find it in
 * turn, so only the one that moves it out of sending/unknown counts its send.
 */
export function lockClaim(db: DbOrTrx, deliveryId: string): Promise<ClaimBeforeReconcile | undefined> {
  return db
    .selectFrom('deliveries')
    .select(['state', 'reason', 'local_date', 'claimed_at', 'segments', 'tokens_in', 'tokens_out'])
    .where('id', '=', deliveryId)
    .forUpdate()
    .executeTakeFirst();
}

/** The full estimated cost of a delivery found sent by reconciliation. */
export async function setDeliveryCost(db: DbOrTrx, deliveryId: string, costUsd: number): Promise<void> {
  await db.updateTable('deliveries').set({ cost_usd: costUsd }).where('id', '=', deliveryId).execute();
}

/** Marks a claimed delivery that never reached Twilio as failed (its send window is long over). */
export async function markNeverSent(db: DbOrTrx, deliveryId: string, reason: string): Promise<boolean> {
  const updated = await db
    .updateTable('deliveries')
    .set({ state: 'failed', reason })
    .where('id', '=', deliveryId)
    .where('state', 'in', ['sending', 'unknown'])
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}
