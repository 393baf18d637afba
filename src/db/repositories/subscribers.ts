// Subscriber rows: lookup by phone, creation, and status/profile updates.
import { sql } from 'kysely';
import type { ConsentSource } from '../../domain/subscriber.js';
import type { DbOrTrx } from '../connection.js';
import type { NewSubscriber, Subscriber, SubscriberUpdate } from '../schema.js';

/**
 * The subscriber with this phone. `lock` holds the row against every other change to it until the
 * transaction ends (FOR NO KEY UPDATE, as the SQL functions lock it: unlike FOR UPDATE it does not wait on
 * transactions that only reference the row, such as a text being stored with its subscriber).
 */
export function findSubscriberByPhone(
  db: DbOrTrx,
  phone: string,
  options: { lock?: boolean } = {},
): Promise<Subscriber | undefined> {
  const query = db.selectFrom('subscribers').selectAll().where('phone', '=', phone);
  return (options.lock ? query.forNoKeyUpdate() : query).executeTakeFirst();
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

/**
 * Undoes a sign-up whose double opt-in text was not sent: its subscriber row, while still pending, and the
 * consent-ledger entry it wrote, in one statement (the ledger's foreign key refuses the row alone). A row no
 * longer pending (the number texted START meanwhile) is theirs now and stays; one never saved is no work.
 */
export async function deleteUninvitedSignUp(
  db: DbOrTrx,
  signUp: { subscriberId: number; consentEventId: number },
): Promise<void> {
  await sql`
    WITH gone AS (
      DELETE FROM subscribers WHERE id = ${signUp.subscriberId} AND status = 'pending' RETURNING id
    )
    DELETE FROM consent_events
    WHERE id = ${signUp.consentEventId} AND subscriber_id IN (SELECT id FROM gone)`.execute(db);
}

export function updateSubscriber(db: DbOrTrx, id: number, changes: SubscriberUpdate): Promise<Subscriber> {
  return db
    .updateTable('subscribers')
    .set(changes)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
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

export interface SubscriberFilter {
  status?: Subscriber['status'];
  paused?: boolean;
  timeZone?: string;
}

/**
 * Up to `limit` subscribers matching `filter`, in the order they were added (by id), after the one with id
 * `afterId` (keyset paging: a page stays correct while rows are added).
 */
export function pageSubscribers(
  db: DbOrTrx,
  filter: SubscriberFilter,
  page: { limit: number; afterId?: number },
): Promise<Subscriber[]> {
  let query = db.selectFrom('subscribers').selectAll();
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.paused !== undefined) query = query.where('paused', '=', filter.paused);
  if (filter.timeZone) query = query.where('time_zone', '=', filter.timeZone);
  if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
  return query.orderBy('id').limit(page.limit).execute();
}
