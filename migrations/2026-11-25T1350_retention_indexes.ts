// Frozen once landed: write a new migration instead of editing this one.
// Retention clears deliveries.body but keeps the rows, so an index on created_at alone would make every
// daily run walk all old deliveries again; this partial index holds only rows whose body is still there.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX deliveries_body_retention_idx ON deliveries (created_at) WHERE body IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX deliveries_body_retention_idx`.execute(db);
}
