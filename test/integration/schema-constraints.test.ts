// The schema itself refuses bad states, whatever code writes to it.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDb } from '../support/db.js';

const { db, url: useTestDbUrl } = useTestDb();

async function subscriber(phone = '+14155550123') {
  return db()
    .insertInto('subscribers')
    .values({ phone, time_zone: 'America/New_York' })
    .returning(['id', 'status', 'created_at'])
    .executeTakeFirstOrThrow();
}

const window = { window_start: '2026-11-25T17:00:00Z', window_end: '2026-11-25T22:00:00Z' };

/** Values no delivery may hold in one column, whatever the others say. */
const BAD_DELIVERY_VALUES: [string, Record<string, unknown>][] = [
  ['an unknown state', { state: 'maybe' }],
  ['a reason over 200 characters', { reason: 'x'.repeat(201) }],
  ['a body over 1600 characters', { body: 'x'.repeat(1601) }],
  ['zero segments', { segments: 0 }],
  ['negative input tokens', { tokens_in: -1 }],
  ['negative output tokens', { tokens_out: -1 }],
  ['a negative cost', { cost_usd: -0.01 }],
  ['more than 10 replacement reasons', { replacement_reasons: Array(11).fill('model_refusal') }],
  ['a replacement reason with a capital letter', { replacement_reasons: ['Model_refusal'] }],
  ['a replacement reason with two colons', { replacement_reasons: ['guard:a:b'] }],
  ['a replacement reason with a space', { replacement_reasons: ['model refusal'] }],
];

describe('schema constraints', () => {
  it('creates pending subscribers with timestamps, and dates come back as plain strings', async () => {
    const s = await subscriber();
    expect(s.status).toBe('pending');
    expect(s.created_at).toBeInstanceOf(Date);
    const d = await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: s.id,
        local_date: '2026-11-25',
        time_zone: 'America/New_York',
        planned_at: '2026-11-25T18:00:00Z',
        ...window,
      })
      .returning(['id', 'local_date', 'state'])
      .executeTakeFirstOrThrow();
    expect(d).toMatchObject({ local_date: '2026-11-25', state: 'planned' });
    expect(d.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['a phone number that is not E.164', { phone: '4155550123' }],
    ['an unknown status', { status: 'maybe' }],
    ['opted_out without a timestamp', { status: 'opted_out' }],
    ['an empty time zone', { time_zone: '' }],
  ])('refuses a subscriber with %s', async (_label, patch) => {
    await expect(
      db()
        .insertInto('subscribers')
        // biome-ignore lint/suspicious/noExplicitAny: deliberately bad rows
        .values({ phone: '+14155550123', time_zone: 'UTC', ...(patch as any) })
        .execute(),
    ).rejects.toThrow(/violates check constraint/);
  });

  it('refuses a duplicate phone number', async () => {
    await subscriber();
    await expect(subscriber()).rejects.toThrow(/duplicate key/);
  });

  it('allows one delivery per subscriber per local date', async () => {
    const s = await subscriber();
    const row = {
      subscriber_id: s.id,
      local_date: '2026-11-25',
      time_zone: 'UTC',
      planned_at: '2026-11-25T18:00:00Z',
      ...window,
    };
    await db().insertInto('deliveries').values(row).execute();
    await expect(db().insertInto('deliveries').values(row).execute()).rejects.toThrow(/duplicate key/);
    const inserted = await db()
      .insertInto('deliveries')
      .values(row)
      .onConflict((c) => c.columns(['subscriber_id', 'local_date']).doNothing())
      .returning('id')
      .execute();
    expect(inserted).toEqual([]);
  });

  it.each([
    ['planned outside its window', { planned_at: '2026-11-25T23:00:00Z' }],
    ['planned without an instant', { planned_at: null }],
    ['skipped without a reason', { state: 'skipped' }],
    ['sent without a MessageSid', { state: 'sent' }],
    ['sending without a claim time', { state: 'sending' }],
    [
      'an inverted window',
      { window_start: '2026-11-25T23:00:00Z', planned_at: null, state: 'skipped', reason: 'x' },
    ],
    ...BAD_DELIVERY_VALUES,
  ])('refuses a delivery %s', async (_label, patch) => {
    const s = await subscriber();
    await expect(
      db()
        .insertInto('deliveries')
        .values({
          subscriber_id: s.id,
          local_date: '2026-11-25',
          time_zone: 'UTC',
          planned_at: '2026-11-25T18:00:00Z',
          ...window,
          // biome-ignore lint/suspicious/noExplicitAny: deliberately bad rows
          ...(patch as any),
        })
        .execute(),
    ).rejects.toThrow(/violates check constraint/);
  });

  // Every single-column rule holds on UPDATE as on INSERT (the webhook functions and the sender update rows
  // in place, so a rule checked only on insert would let a bad value in).
  it.each(BAD_DELIVERY_VALUES)('refuses an update giving a delivery %s', async (_label, patch) => {
    const s = await subscriber();
    const { id } = await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: s.id,
        local_date: '2026-11-25',
        time_zone: 'UTC',
        planned_at: '2026-11-25T18:00:00Z',
        ...window,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await expect(
      db()
        .updateTable('deliveries')
        // biome-ignore lint/suspicious/noExplicitAny: deliberately bad values
        .set(patch as any)
        .where('id', '=', id)
        .execute(),
    ).rejects.toThrow(/violates check constraint/);
  });

  it.each([
    ['a phone number that is not E.164', { phone: '+0123' }],
    ['an unknown status', { status: 'maybe' }],
    ['an empty time zone', { time_zone: '' }],
    ['an empty name', { name: '' }],
    ['a name over 50 characters', { name: 'x'.repeat(51) }],
  ])('refuses an update giving a subscriber %s', async (_label, patch) => {
    const s = await subscriber();
    await expect(
      db()
        .updateTable('subscribers')
        // biome-ignore lint/suspicious/noExplicitAny: deliberately bad values
        .set(patch as any)
        .where('id', '=', s.id)
        .execute(),
    ).rejects.toThrow(/violates check constraint/);
  });

  it('accepts replacement reasons in their documented shape, and an empty list', async () => {
    const s = await subscriber();
    const { id } = await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: s.id,
        local_date: '2026-11-25',
        time_zone: 'UTC',
        planned_at: '2026-11-25T18:00:00Z',
        replacement_reasons: ['guard:too_long', 'moderation_flagged'],
        ...window,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db().updateTable('deliveries').set({ replacement_reasons: [] }).where('id', '=', id).execute();
    const row = await db()
      .selectFrom('deliveries')
      .select('replacement_reasons')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.replacement_reasons).toEqual([]);
  });

  it('keeps the consent ledger append-only', async () => {
    const s = await subscriber();
    await db()
      .insertInto('consent_events')
      .values({
        subscriber_id: s.id,
        phone: '+14155550123',
        kind: 'opt_in',
        source: 'sms',
        trigger_text: 'YES',
      })
      .execute();
    await expect(db().updateTable('consent_events').set({ kind: 'opt_out' }).execute()).rejects.toThrow(
      /append-only/,
    );
    // One change only: unlinking an entry from its subscriber (an expired sign-up is deleted, the proof stays).
    await expect(
      db().updateTable('consent_events').set({ subscriber_id: null, trigger_text: 'STOP' }).execute(),
    ).rejects.toThrow(/append-only/);
    await db().updateTable('consent_events').set({ subscriber_id: null }).execute();
    await expect(db().updateTable('consent_events').set({ subscriber_id: s.id }).execute()).rejects.toThrow(
      /append-only/,
    );
    expect(
      await db()
        .selectFrom('consent_events')
        .select(['subscriber_id', 'phone', 'kind', 'trigger_text'])
        .execute(),
    ).toEqual([{ subscriber_id: null, phone: '+14155550123', kind: 'opt_in', trigger_text: 'YES' }]);
    // Deleting a subscriber who still has entries is refused (ON DELETE RESTRICT): unlinking is deliberate.
    const t = await subscriber('+14155550124');
    await db()
      .insertInto('consent_events')
      .values({ subscriber_id: t.id, phone: '+14155550124', kind: 'opt_in', source: 'api' })
      .execute();
    await expect(db().deleteFrom('subscribers').where('id', '=', t.id).execute()).rejects.toThrow(
      /foreign key/,
    );
  });

  it('stores each (MessageSid, status) once', async () => {
    const event = { message_sid: 'SM123', status: 'delivered' };
    await db().insertInto('delivery_status_events').values(event).execute();
    await expect(db().insertInto('delivery_status_events').values(event).execute()).rejects.toThrow(
      /duplicate key/,
    );
  });

  it('maintains updated_at on change', async () => {
    const s = await subscriber();
    const before = await db()
      .selectFrom('subscribers')
      .select('updated_at')
      .where('id', '=', s.id)
      .executeTakeFirstOrThrow();
    await sql`SELECT pg_sleep(0.01)`.execute(db());
    await db().updateTable('subscribers').set({ name: 'Ana' }).where('id', '=', s.id).execute();
    const after = await db()
      .selectFrom('subscribers')
      .select('updated_at')
      .where('id', '=', s.id)
      .executeTakeFirstOrThrow();
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
  });
});

describe('connection pool', () => {
  it('survives the server terminating an idle connection', async () => {
    const { createPool, dbOnPool } = await import('../../src/db/connection.js');
    const pool = createPool({ connectionString: useTestDbUrl(), max: 1, applicationName: 'idle-kill-test' });
    const own = dbOnPool(pool);
    await sql`SELECT 1`.execute(own);
    expect(pool.idleCount).toBe(1);
    // Kill our pool's idle connection from another session, as a failover or restart would.
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'idle-kill-test'`.execute(
      db(),
    );
    // The pool notices (its idle client errors) and drops the connection: wait for that, not a fixed time.
    const deadline = Date.now() + 5_000;
    while (pool.totalCount > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(pool.totalCount, 'the pool dropped the killed connection').toBe(0);
    const { rows } = await sql<{ ok: number }>`SELECT 1 AS ok`.execute(own);
    expect(rows).toEqual([{ ok: 1 }]);
    await own.destroy();
  });
});
