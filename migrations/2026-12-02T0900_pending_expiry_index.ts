// Frozen once landed: write a new migration instead of editing this one.
// The daily cleanup deletes sign-ups nobody confirmed once they are PENDING_EXPIRY_DAYS old, oldest first
// (deleteExpiredInvitations, src/db/repositories/retention.ts). subscribers had no index to find them, so
// each batch read the whole table (a million rows at scale) for the few pending ones. This partial index
// holds only pending rows. It adds no write cost to confirmations or opt-outs: status is already in
// subscribers_active_idx's predicate, so those updates were never HOT, and their new row version is not
// pending.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX subscribers_pending_created_idx ON subscribers (created_at) WHERE status = 'pending'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX subscribers_pending_created_idx`.execute(db);
}
