import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { migrateDown, migrateToLatest, migrationStatus } from '../../src/db/migrator.js';
import { createEmptyDatabase } from '../support/db.js';

async function tables(db: Kysely<unknown>): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%' ORDER BY table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

describe('migrations on a real database', () => {
  let db: Kysely<unknown>;
  beforeAll(async () => {
    const url = await createEmptyDatabase('migrations');
    db = new Kysely({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
    });
  });
  afterAll(() => db.destroy());

  it('runs up → down (all the way) → up, leaving the same schema', async () => {
    const names = Object.keys(migrations);
    expect(await migrateToLatest(db)).toEqual(names);
    const schema = await tables(db);
    expect(schema).toEqual([
      'consent_events',
      'deliveries',
      'delivery_status_events',
      'inbound_messages',
      'outbox_messages',
      'planned_dates',
      'rate_limits',
      'sms_quota_days',
      'subscribers',
      'usage_daily',
    ]);

    for (const name of [...names].reverse()) expect(await migrateDown(db)).toEqual([name]);
    expect(await tables(db)).toEqual([]);

    expect(await migrateToLatest(db)).toEqual(names);
    expect(await tables(db)).toEqual(schema);
    const status = await migrationStatus(db);
    expect(status.every((m) => m.executedAt instanceof Date)).toBe(true);
  });

  it('is a no-op when already at the latest version', async () => {
    await migrateToLatest(db);
    expect(await migrateToLatest(db)).toEqual([]);
  });
});
