// Frozen once landed: write a new migration instead of editing this one.
// The planner pages through planned-but-unscheduled deliveries by keyset (planned_at, id). With an index on
// planned_at alone, every page re-scanned the index from the start (260 pages of 500 for 100,000
// subscribers took ~16 s); this index serves the keyset directly and replaces the one-column index.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX deliveries_unscheduled_order_idx ON deliveries (planned_at, id)
      WHERE state = 'planned' AND scheduled_at IS NULL
  `.execute(db);
  await sql`DROP INDEX deliveries_unscheduled_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX deliveries_unscheduled_idx ON deliveries (planned_at)
      WHERE state = 'planned' AND scheduled_at IS NULL
  `.execute(db);
  await sql`DROP INDEX deliveries_unscheduled_order_idx`.execute(db);
}
