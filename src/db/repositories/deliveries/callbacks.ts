// Deliveries as seen from webhooks: status callbacks (stored, then applied forward-only, in one SQL
// function call) and cancellation of planned deliveries when a subscriber is paused or changes time zone
// (an opt-out cancels them inside opt_out_subscriber).

import type { CancelReason } from '../../../domain/delivery.js';
import type { DbOrTrx } from '../../connection.js';
import { preparedStatement } from '../../prepared.js';

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
      advanced: boolean;
      optedOut: boolean;
      cancelledDeliveryIds: string[];
    }
  | { outcome: 'duplicate' }
  | { outcome: 'limited'; retryAfterMs: number };

const receive = preparedStatement(
  'receive_status_callback',
  'SELECT * FROM receive_status_callback($1, $2, $3::integer, $4, $5, $6, $7::integer)',
);

/**
 * Stores the callback once per (MessageSid, status), moves the delivery's status forward only, and opts
 * the recipient out when the provider says so: receive_status_callback, one statement.
 */
export async function receiveStatusCallback(
  db: DbOrTrx,
  row: StatusCallbackRow,
): Promise<StatusCallbackApplied> {
  const { rows } = await db.executeQuery<{
    outcome: 'applied' | 'duplicate' | 'limited';
    advanced: boolean;
    opted_out: boolean;
    cancelled: string[];
    retry_after_ms: number | null;
  }>(
    receive([
      row.messageSid,
      row.status,
      row.errorCode,
      row.recipientOptedOut,
      row.to,
      row.now,
      row.limitPerMinute,
    ]),
  );
  const r = rows[0];
  if (!r) throw new Error('receive_status_callback returned no row');
  if (r.outcome === 'duplicate') return { outcome: 'duplicate' };
  if (r.outcome === 'limited') return { outcome: 'limited', retryAfterMs: r.retry_after_ms ?? 60_000 };
  return {
    outcome: 'applied',
    advanced: r.advanced,
    optedOut: r.opted_out,
    cancelledDeliveryIds: r.cancelled,
  };
}

/**
 * Cancels the subscriber's deliveries that are planned but not yet claimed by the sender. Returns their
 * ids so the caller can remove their schedules after the transaction commits.
 */
export async function cancelPlannedDeliveries(
  db: DbOrTrx,
  subscriberId: number,
  reason: CancelReason,
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
