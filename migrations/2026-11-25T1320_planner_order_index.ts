// Frozen once landed: write a new migration instead of editing this one.
// The planner walks active subscribers in fair-rotation order (most recently skipped for quota first);
// this index lets it page through 100,000+ of them by keyset without sorting the table on every page.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX subscribers_plan_order_idx
      ON subscribers ((coalesce(last_quota_skip_date, '-infinity'::date)) DESC, id DESC)
      WHERE status = 'active' AND NOT paused
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX subscribers_plan_order_idx`.execute(db);
}
