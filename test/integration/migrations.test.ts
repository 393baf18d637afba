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
      'message_statuses',
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

  it('moving message statuses off deliveries keeps each status and error code, both ways', async () => {
    await migrateToLatest(db);
    const names = Object.keys(migrations);
    for (const name of names.slice(names.indexOf('2026-12-01T1500_message_statuses')).reverse()) {
      expect(await migrateDown(db)).toEqual([name]);
    }
    const { rows } = await sql<{ id: number }>`
      INSERT INTO subscribers (phone, status, time_zone) VALUES ('+12125550100', 'active', 'UTC') RETURNING id`.execute(
      db,
    );
    const sid = `SM${'d'.repeat(32)}`;
    await sql`
      INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at, state,
                              claimed_at, sent_at, message_sid, delivery_status, error_code)
      VALUES (${rows[0]?.id}, '2026-11-24', 'UTC', '2026-11-24T12:00Z', '2026-11-24T17:00Z', '2026-11-24T13:00Z',
              'sent', '2026-11-24T13:00Z', '2026-11-24T13:00Z', ${sid}, 'undelivered', 30007)`.execute(db);

    await migrateToLatest(db);
    const moved = await sql`SELECT message_sid, status, error_code FROM message_statuses`.execute(db);
    expect(moved.rows).toEqual([{ message_sid: sid, status: 'undelivered', error_code: 30007 }]);

    for (const name of names.slice(names.indexOf('2026-12-01T1500_message_statuses')).reverse()) {
      expect(await migrateDown(db)).toEqual([name]);
    }
    const back = await sql`SELECT delivery_status, error_code FROM deliveries`.execute(db);
    expect(back.rows).toEqual([{ delivery_status: 'undelivered', error_code: 30007 }]);
    await sql`TRUNCATE deliveries, subscribers CASCADE`.execute(db);
  });

  it('is a no-op when already at the latest version', async () => {
    await migrateToLatest(db);
    expect(await migrateToLatest(db)).toEqual([]);
  });
});
