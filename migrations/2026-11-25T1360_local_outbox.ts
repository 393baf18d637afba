// One-machine mode: the SMS outbox that stands in for Twilio when no credentials are set.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE outbox_messages (
      sid          text PRIMARY KEY CHECK (sid ~ '^SM[0-9a-f]{32}$'),
      to_phone     text NOT NULL,
      from_phone   text NOT NULL,
      body         text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 1600),
      status       text NOT NULL DEFAULT 'queued',
      status_callback text,
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbox_messages_to_idx ON outbox_messages (to_phone, created_at);
    CREATE TRIGGER outbox_messages_updated_at BEFORE UPDATE ON outbox_messages
      FOR EACH ROW EXECUTE FUNCTION set_updated_at();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE outbox_messages`.execute(db);
}
