// Deliveries as seen from webhooks: status callbacks (stored, then applied forward-only, in one SQL
// function call), cancellation of planned deliveries when a subscriber is paused, and the keep-or-cancel
// of a time zone change (an opt-out cancels them inside opt_out_subscriber).

import { sql } from 'kysely';
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

/** A planned delivery as a time zone change judges it. */
export interface PlannedDelivery {
  id: string;
  localDate: string;
  plannedAt: Date;
}

/**
 * The subscriber's deliveries that are planned but not yet claimed, locked until the transaction ends: a
 * sender claiming one meanwhile waits, then claims the row as this transaction left it (re-stamped or
 * cancelled), never the one that was read here.
 */
export async function lockPlannedDeliveries(db: DbOrTrx, subscriberId: number): Promise<PlannedDelivery[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['id', 'local_date as localDate', 'planned_at as plannedAt'])
    .where('subscriber_id', '=', subscriberId)
    .where('state', '=', 'planned')
    .orderBy('local_date')
    .forNoKeyUpdate()
    .execute();
  // A planned row always has its time (CHECK state <> 'planned' OR planned_at IS NOT NULL).
  return rows.map((r) => ({ ...r, plannedAt: r.plannedAt as Date }));
}

/** Gives planned deliveries the zone and window of their local date there; their instant stays. */
export async function restampDeliveries(
  db: DbOrTrx,
  rows: readonly { id: string; timeZone: string; start: Date; end: Date }[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    UPDATE deliveries d SET time_zone = v.zone, window_start = v.start, window_end = v.end
    FROM unnest(
      ${rows.map((r) => r.id)}::uuid[],
      ${rows.map((r) => r.timeZone)}::text[],
      ${rows.map((r) => r.start.toISOString())}::timestamptz[],
      ${rows.map((r) => r.end.toISOString())}::timestamptz[]
    ) AS v(id, zone, start, "end")
    WHERE d.id = v.id AND d.state = 'planned'`.execute(db);
}

/** Cancels these deliveries if still planned; returns the ids cancelled, whose schedules must go. */
export async function cancelDeliveries(
  db: DbOrTrx,
  ids: readonly string[],
  reason: CancelReason,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .updateTable('deliveries')
    .set({ state: 'cancelled', reason })
    .where('id', 'in', ids)
    .where('state', '=', 'planned')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}
