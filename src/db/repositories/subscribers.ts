// Subscriber rows: lookup by phone, creation, and status/profile updates.
import { sql } from 'kysely';
import type { DbOrTrx } from '../connection.js';
import type { ConsentSource, NewSubscriber, Subscriber, SubscriberUpdate } from '../schema.js';

export function findSubscriberByPhone(
  db: DbOrTrx,
  phone: string,
  options: { forUpdate?: boolean } = {},
): Promise<Subscriber | undefined> {
  const query = db.selectFrom('subscribers').selectAll().where('phone', '=', phone);
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

/** Inserts unless the phone exists; returns the new row, or undefined when another row has the phone. */
export function insertSubscriberIfNew(db: DbOrTrx, row: NewSubscriber): Promise<Subscriber | undefined> {
  return db
    .insertInto('subscribers')
    .values(row)
    .onConflict((oc) => oc.column('phone').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function updateSubscriber(db: DbOrTrx, id: number, changes: SubscriberUpdate): Promise<Subscriber> {
  return db
    .updateTable('subscribers')
    .set(changes)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Every subscriber, oldest first (operator CLI, dev page). */
export function listSubscribers(db: DbOrTrx, status?: Subscriber['status']): Promise<Subscriber[]> {
  let query = db.selectFrom('subscribers').selectAll();
  if (status) query = query.where('status', '=', status);
  return query.orderBy('created_at').orderBy('id').execute();
}

export interface OptOutRow {
  source: ConsentSource;
  now: Date;
  messageSid?: string | null;
  triggerText?: string | null;
  /** Also erase the name (DELETE /api/subscribers/:phone). */
  eraseName?: boolean;
}

/**
 * The SQL function opt_out_subscriber: locks the row, cancels planned deliveries, sets opted_out and writes
 * one consent event when the status changed. The inbound and status-callback functions call the same one.
 */
export async function optOutSubscriberRow(
  db: DbOrTrx,
  subscriberId: number,
  request: OptOutRow,
): Promise<{ found: boolean; changed: boolean; cancelledDeliveryIds: string[] }> {
  const { rows } = await sql<{ subscriber_id: number | null; changed: boolean; cancelled: string[] }>`
    SELECT * FROM opt_out_subscriber(${subscriberId}::integer, ${request.source}, ${request.now},
      ${request.messageSid ?? null}, ${request.triggerText ?? null}, ${request.eraseName ?? false})`.execute(
    db,
  );
  const r = rows[0];
  return {
    found: r?.subscriber_id != null,
    changed: r?.changed ?? false,
    cancelledDeliveryIds: r?.cancelled ?? [],
  };
}
