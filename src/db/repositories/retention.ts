// Retention statements, each bounded to `limit` rows so no statement holds row locks for long. Every
// statement runs on its own (autocommit); callers loop until a batch comes back short. ORDER BY the
// timestamp makes each batch an index range scan from the oldest row: without it the planner picks a
// sequential scan that re-reads every row earlier batches already handled (measured: >1 s per batch at
// 1M rows).
import { sql } from 'kysely';
import type { DbOrTrx } from '../connection.js';

async function affected(db: DbOrTrx, query: ReturnType<typeof sql>): Promise<number> {
  const result = await query.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Sets deliveries.body to NULL on up to `limit` deliveries created before `cutoff`. */
export function clearDeliveryBodies(db: DbOrTrx, cutoff: Date, limit: number): Promise<number> {
  return affected(
    db,
    sql`UPDATE deliveries SET body = NULL WHERE id IN (
          SELECT id FROM deliveries WHERE body IS NOT NULL AND created_at < ${cutoff}
          ORDER BY created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)`,
  );
}

/**
 * Sets deliveries.body to NULL on every delivery of one subscriber (DELETE /api/subscribers/:phone: the
 * writer greets by first name, so the texts hold the name being erased). Not on a send that went out
 * without a SID (`sending`/`unknown`, no message_sid): reconciliation can only match that one by its text;
 * retention clears it later.
 */
export function clearSubscriberBodies(db: DbOrTrx, subscriberId: number): Promise<number> {
  return affected(
    db,
    sql`UPDATE deliveries SET body = NULL
        WHERE subscriber_id = ${subscriberId} AND body IS NOT NULL
          AND NOT (state IN ('sending', 'unknown') AND message_sid IS NULL)`,
  );
}

/**
 * Deletes up to `limit` rows of `table` whose `at` is before `cutoff`, oldest first, skipping rows another
 * transaction holds (a concurrent run takes the next batch instead of waiting).
 */
function deleteBefore(
  db: DbOrTrx,
  table: 'inbound_messages' | 'delivery_status_events' | 'consent_events' | 'outbox_messages',
  key: 'id' | 'sid',
  at: 'received_at' | 'created_at',
  cutoff: Date,
  limit: number,
): Promise<number> {
  return affected(
    db,
    sql`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(key)} IN (
          SELECT ${sql.ref(key)} FROM ${sql.table(table)} WHERE ${sql.ref(at)} < ${cutoff}
          ORDER BY ${sql.ref(at)} LIMIT ${limit} FOR UPDATE SKIP LOCKED)`,
  );
}

/** Deletes up to `limit` inbound messages (text and sender number) received before `cutoff`. */
export const deleteInboundMessages = (db: DbOrTrx, cutoff: Date, limit: number) =>
  deleteBefore(db, 'inbound_messages', 'id', 'received_at', cutoff, limit);

/** Deletes up to `limit` delivery status events received before `cutoff`. */
export const deleteStatusEvents = (db: DbOrTrx, cutoff: Date, limit: number) =>
  deleteBefore(db, 'delivery_status_events', 'id', 'received_at', cutoff, limit);

/** Deletes up to `limit` consent events recorded before `cutoff` (the consent retention period). */
export const deleteConsentEvents = (db: DbOrTrx, cutoff: Date, limit: number) =>
  deleteBefore(db, 'consent_events', 'id', 'created_at', cutoff, limit);

/**
 * Deletes up to `limit` texts one-machine mode's outbox "sent" (number and body) before `cutoff`. In AWS
 * the table is empty: Twilio keeps its own log of what it sent.
 */
export const deleteOutboxMessages = (db: DbOrTrx, cutoff: Date, limit: number) =>
  deleteBefore(db, 'outbox_messages', 'sid', 'created_at', cutoff, limit);

/**
 * Deletes up to `limit` sign-ups nobody confirmed (pending, never confirmed, never opted out) made before
 * `cutoff`, oldest first. No repeated sign-up re-sends the request (it is refused while the row exists), so
 * created_at is when it was sent. Their ledger entries (the opt-in request the API or an operator wrote when
 * it texted them) are unlinked, not deleted: with the number, they are the proof of why we texted them,
 * kept until CONSENT_RETENTION_DAYS like everyone's (migration 2026-12-01T1900 lets the append-only ledger
 * take that one change; its foreign key still refuses any other delete of a subscriber with entries).
 *
 * A YES being applied holds its row (its stored text references it), so SKIP LOCKED passes it by; one that
 * committed first made the row active, and the lock's re-check of the WHERE leaves it out. A YES that comes
 * while this statement holds the row waits, finds it gone, and is retried as a text from a number we do not
 * know (receiveInboundSms): it signs them up. Their inbound texts stay until RETENTION_DAYS, no longer tied
 * to a subscriber (ON DELETE SET NULL); deliveries cascade (a pending subscriber has none).
 */
export function deleteExpiredInvitations(db: DbOrTrx, cutoff: Date, limit: number): Promise<number> {
  return affected(
    db,
    sql`WITH expired AS (
          SELECT s.id FROM subscribers s
          WHERE s.status = 'pending' AND s.confirmed_at IS NULL AND s.opted_out_at IS NULL
            AND s.created_at < ${cutoff}
          ORDER BY s.created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ), unlinked AS (
          UPDATE consent_events c SET subscriber_id = NULL FROM expired e WHERE c.subscriber_id = e.id
        )
        DELETE FROM subscribers s USING expired e WHERE s.id = e.id`,
  );
}

/** Size of the current database in bytes. */
export async function databaseSizeBytes(db: DbOrTrx): Promise<number> {
  const { rows } = await sql<{ bytes: number }>`SELECT pg_database_size(current_database()) AS bytes`.execute(
    db,
  );
  return Number(rows[0]?.bytes ?? 0);
}
