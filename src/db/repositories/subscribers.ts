// Subscriber rows: lookup by phone, creation, and status/profile updates.
import type { DbOrTrx } from '../connection.js';
import type { NewSubscriber, Subscriber, SubscriberUpdate } from '../schema.js';

export function findSubscriberByPhone(
  db: DbOrTrx,
  phone: string,
  options: { forUpdate?: boolean } = {},
): Promise<Subscriber | undefined> {
  const query = db.selectFrom('subscribers').selectAll().where('phone', '=', phone);
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export function findSubscriberById(
  db: DbOrTrx,
  id: number,
  options: { forUpdate?: boolean } = {},
): Promise<Subscriber | undefined> {
  const query = db.selectFrom('subscribers').selectAll().where('id', '=', id);
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

/**
 * The subscriber with this phone, locked for the rest of the transaction; created from `row` first when
 * there is none (concurrent creators wait on the unique index, then find the winner's row).
 */
export async function lockOrCreateSubscriber(
  db: DbOrTrx,
  row: NewSubscriber & { phone: string },
): Promise<{ subscriber: Subscriber; created: boolean }> {
  const existing = await findSubscriberByPhone(db, row.phone, { forUpdate: true });
  if (existing) return { subscriber: existing, created: false };
  const created = await insertSubscriberIfNew(db, row);
  if (created) return { subscriber: created, created: true };
  const winner = await findSubscriberByPhone(db, row.phone, { forUpdate: true });
  if (!winner) throw new Error('subscriber vanished while being created');
  return { subscriber: winner, created: false };
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
