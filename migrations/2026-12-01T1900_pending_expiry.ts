// Frozen once landed: write a new migration instead of editing this one.
// For the daily cleanup that deletes sign-ups nobody confirmed after PENDING_EXPIRY_DAYS
// (deleteExpiredInvitations, src/db/repositories/retention.ts), the first statement that deletes
// subscribers rows:
// 1. subscribers_pending_created_idx: it looks for pending rows, oldest first; without an index each batch
//    read the whole table (a million rows at scale) for the few pending ones. Only pending rows are in it,
//    and confirmations or opt-outs pay nothing more: status is already in subscribers_active_idx's
//    predicate, so those updates were never HOT, and their new row version is not pending.
// 2. consent_events and inbound_messages on subscriber_id: each deleted subscriber fires their foreign keys'
//    checks (RESTRICT, SET NULL), which look rows up by subscriber_id, and the statement unlinks the
//    ledger's entries by it. Unindexed, that was a scan of both tables per deleted row: 14.3 s for 100
//    rows with a million ledger rows and 300,000 texts, so a batch of 5,000 could never finish inside the
//    cleanup's 30 s statement timeout; indexed, 5,000 took 88 ms. Built on those tables in 0.8 s and 0.2 s.
//    One more index entry per consent change and per inbound text.
// 3. The consent ledger stays append-only but for one change: an entry may be unlinked from its subscriber
//    (subscriber_id set to NULL, nothing else touched), so a deleted sign-up's ledger entries, number
//    included, stay the proof of why we texted them until CONSENT_RETENTION_DAYS, like everyone's. The
//    foreign key stays ON DELETE RESTRICT: deleting a subscriber still fails unless its entries were
//    unlinked on purpose.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX subscribers_pending_created_idx ON subscribers (created_at) WHERE status = 'pending'`.execute(
    db,
  );
  await sql`CREATE INDEX consent_events_subscriber_idx ON consent_events (subscriber_id)`.execute(db);
  await sql`CREATE INDEX inbound_messages_subscriber_idx ON inbound_messages (subscriber_id)`.execute(db);
  await sql`
    CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.subscriber_id IS NULL AND to_jsonb(NEW) - 'subscriber_id' = to_jsonb(OLD) - 'subscriber_id' THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '% is append-only (an entry may only be unlinked from its subscriber)', TG_TABLE_NAME;
    END $$;
    DROP TRIGGER consent_events_append_only ON consent_events;
    CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
      FOR EACH ROW EXECUTE FUNCTION consent_events_append_only();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TRIGGER consent_events_append_only ON consent_events;
    CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
      FOR EACH ROW EXECUTE FUNCTION forbid_update();
    DROP FUNCTION consent_events_append_only();
  `.execute(db);
  await sql`DROP INDEX inbound_messages_subscriber_idx`.execute(db);
  await sql`DROP INDEX consent_events_subscriber_idx`.execute(db);
  await sql`DROP INDEX subscribers_pending_created_idx`.execute(db);
}
