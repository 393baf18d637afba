// Frozen once landed: write a new migration instead of editing this one.
// The shared counters of rate-limiter-flexible's RateLimiterPostgres (src/adapters/rate-limiter.ts). The
// columns, their order and types are the library's own (it inserts positionally), so the limiter runs
// with `tableCreated: true` and never issues DDL from a Lambda.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE rate_limits (
      key     varchar(255) PRIMARY KEY,
      points  integer NOT NULL DEFAULT 0,
      expire  bigint
    );
    COMMENT ON TABLE rate_limits IS
      'rate-limiter-flexible counters: key = <prefix>:<budget>:<sha256 of caller key>, expire = epoch ms';
    CREATE INDEX rate_limits_expire_idx ON rate_limits (expire);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE rate_limits`.execute(db);
}
