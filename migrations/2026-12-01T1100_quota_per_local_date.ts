// Frozen once landed: write a new migration instead of editing this one.
// The daily SMS quota counts per local date (docs/planner.md). (1) The sender's backstop counts messages
// sent per local date in sms_quota_days (one row per date, one primary-key read per send), no longer per
// UTC day in usage_daily, which still carries cost and usage per UTC day. (2) Fair rotation under the quota
// is a queue: whoever was skipped most recently is served first. The
// skip date alone cannot keep the queue's order among the many skipped on the same date (the id broke the
// tie, so some were skipped again before others had been skipped once); the rank within the date's skips
// keeps it. The planner walks subscribers in (date, rank, id) order, so the index follows.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE sms_quota_days (
      local_date  date PRIMARY KEY,
      sms_sent    integer NOT NULL DEFAULT 0 CHECK (sms_sent >= 0),
      updated_at  timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  // (3) The local dates planner runs have decided. A date not listed has no planned deliveries yet; a
  // date with considered_before set was decided by a run that finished and saw every subscriber last
  // changed before that instant. Either way the next run need not look each subscriber up in deliveries.
  await sql`
    CREATE TABLE planned_dates (
      local_date        date PRIMARY KEY,
      first_run         timestamptz NOT NULL DEFAULT now(),
      considered_before timestamptz
    )
  `.execute(db);
  await sql`ALTER TABLE subscribers ADD COLUMN quota_skip_rank integer NOT NULL DEFAULT 0`.execute(db);
  await sql`
    CREATE INDEX subscribers_rotation_idx
      ON subscribers ((coalesce(last_quota_skip_date, '-infinity'::date)) DESC, quota_skip_rank DESC, id DESC)
      WHERE status = 'active' AND NOT paused
  `.execute(db);
  await sql`DROP INDEX subscribers_plan_order_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX subscribers_plan_order_idx
      ON subscribers ((coalesce(last_quota_skip_date, '-infinity'::date)) DESC, id DESC)
      WHERE status = 'active' AND NOT paused
  `.execute(db);
  await sql`DROP INDEX subscribers_rotation_idx`.execute(db);
  await sql`ALTER TABLE subscribers DROP COLUMN quota_skip_rank`.execute(db);
  await sql`DROP TABLE planned_dates`.execute(db);
  await sql`DROP TABLE sms_quota_days`.execute(db);
}
