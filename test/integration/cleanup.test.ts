// Retention on a real Postgres: exactly the rows past retention go (the local outbox's texts too), consent
// within its period and usage rows stay.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/connection.js';
import { createLogger } from '../../src/logger.js';
import { InMemoryMetricsSink, MetricName } from '../../src/metrics.js';
import { runCleanup } from '../../src/services/cleanup.js';
import { useTestDb } from '../support/db.js';

const { db } = useTestDb();
const NOW = new Date('2026-11-25T09:00:00Z');
const DAY = 86_400_000;
const daysAgo = (d: number) => new Date(NOW.getTime() - d * DAY);
const config = { RETENTION_DAYS: 90, CONSENT_RETENTION_DAYS: 1825 };
const quiet = createLogger({ level: 'SILENT' });

async function seed(db: Db) {
  const { id: subscriberId } = await db
    .insertInto('subscribers')
    .values({ phone: '+14155550123', time_zone: 'America/New_York', status: 'active' })
    .returning('id')
    .executeTakeFirstOrThrow();
  // Deliveries 91, 90 − 1 h, and 10 days old: only the first is past 90 days.
  for (const [i, age] of [91, 89.96, 10].entries()) {
    const created = daysAgo(age);
    await db
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriberId,
        local_date: created.toISOString().slice(0, 10),
        time_zone: 'America/New_York',
        window_start: created,
        window_end: new Date(created.getTime() + 5 * 3_600_000),
        planned_at: created,
        state: 'sent',
        message_sid: `SM${i}`,
        body: `kind words ${i}`,
        created_at: created,
      })
      .execute();
  }
  for (const [i, age] of [120, 91, 30].entries()) {
    await db
      .insertInto('inbound_messages')
      .values({
        message_sid: `SMin${i}`,
        from_phone: '+14155550123',
        body: `hi ${i}`,
        classification: 'other',
        received_at: daysAgo(age),
      } as never)
      .execute();
    await db
      .insertInto('delivery_status_events')
      .values({ message_sid: `SM${i}`, status: 'delivered', received_at: daysAgo(age) } as never)
      .execute();
  }
  // Consent: 6 years old (past 1825 days), 4 years and 100 days old (kept: proof of consent).
  for (const [i, age] of [6 * 365, 4 * 365, 100].entries()) {
    await db
      .insertInto('consent_events')
      .values({
        subscriber_id: subscriberId,
        phone: '+14155550123',
        kind: i === 0 ? 'opt_in' : 'confirm',
        source: 'sms',
        trigger_text: 'YES',
        created_at: daysAgo(age),
      } as never)
      .execute();
  }
  // One-machine mode's outbox: the texts "sent" (number and body), as old as the deliveries above.
  for (const [i, age] of [120, 91, 30].entries()) {
    await db
      .insertInto('outbox_messages')
      .values({
        sid: `SM${String(i).repeat(32)}`,
        to_phone: '+14155550123',
        from_phone: '+15005550006',
        body: `kind words ${i}`,
        status: 'delivered',
        created_at: daysAgo(age),
      } as never)
      .execute();
  }
  await db
    .insertInto('usage_daily')
    .values([{ day: '2024-01-01', sms_sent: 3, estimated_cost_usd: 0.5 }, { day: '2026-11-24' }])
    .execute();
}

describe('runCleanup', () => {
  it('removes exactly the rows past retention and keeps consent within its period and usage', async () => {
    await seed(db());
    const metrics = new InMemoryMetricsSink();

    const result = await runCleanup({ db: db(), clock: { now: () => NOW }, metrics, logger: quiet }, config, {
      batchSize: 1,
    });

    expect(result).toMatchObject({
      deliveryBodiesCleared: 1,
      inboundMessagesDeleted: 2,
      statusEventsDeleted: 2,
      consentEventsDeleted: 1,
      outboxMessagesDeleted: 2,
      complete: true,
    });
    const deliveries = await db()
      .selectFrom('deliveries')
      .select(['message_sid', 'body'])
      .orderBy('message_sid')
      .execute();
    expect(deliveries).toEqual([
      { message_sid: 'SM0', body: null },
      { message_sid: 'SM1', body: 'kind words 1' },
      { message_sid: 'SM2', body: 'kind words 2' },
    ]);
    expect(await db().selectFrom('inbound_messages').select('message_sid').execute()).toEqual([
      { message_sid: 'SMin2' },
    ]);
    expect(await db().selectFrom('delivery_status_events').select('message_sid').execute()).toEqual([
      { message_sid: 'SM2' },
    ]);
    expect(await db().selectFrom('outbox_messages').select('body').execute()).toEqual([
      { body: 'kind words 2' },
    ]);
    const consent = await db().selectFrom('consent_events').select('kind').orderBy('created_at').execute();
    expect(consent).toEqual([{ kind: 'confirm' }, { kind: 'confirm' }]);
    expect(await db().selectFrom('usage_daily').select('day').orderBy('day').execute()).toEqual([
      { day: '2024-01-01' },
      { day: '2026-11-24' },
    ]);
    // Batches of one: each table drains in n + 1 statements (the last comes back short).
    expect(result.batches).toBe(2 + 3 + 3 + 2 + 3);
    expect(result.databaseSizeBytes).toBeGreaterThan(1_000_000);
    expect(metrics.total(MetricName.DatabaseSizeBytes)).toBe(result.databaseSizeBytes);
  });

  it('is idempotent: a second run finds nothing', async () => {
    await seed(db());
    const deps = { db: db(), clock: { now: () => NOW }, metrics: new InMemoryMetricsSink(), logger: quiet };
    await runCleanup(deps, config);
    const again = await runCleanup(deps, config);
    expect(again).toMatchObject({
      deliveryBodiesCleared: 0,
      inboundMessagesDeleted: 0,
      statusEventsDeleted: 0,
      consentEventsDeleted: 0,
      outboxMessagesDeleted: 0,
      batches: 5,
    });
  });

  it('stops at its deadline and reports the run incomplete', async () => {
    await seed(db());
    let ticks = 0;
    // The clock passes the deadline after the first two batches.
    const clock = { now: () => new Date(NOW.getTime() + (ticks++ >= 3 ? 60_000 : 0)) };
    const result = await runCleanup(
      { db: db(), clock, metrics: new InMemoryMetricsSink(), logger: quiet },
      config,
      {
        batchSize: 1,
        deadline: new Date(NOW.getTime() + 1_000),
      },
    );
    expect(result.complete).toBe(false);
    expect(result.batches).toBe(2);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM consent_events`.execute(db());
    expect(rows[0]?.n).toBe(3);
  });

  it('rejects a batch size below one', async () => {
    await expect(
      runCleanup(
        { db: db(), clock: { now: () => NOW }, metrics: new InMemoryMetricsSink(), logger: quiet },
        config,
        {
          batchSize: 0,
        },
      ),
    ).rejects.toThrow(/batchSize/);
  });
});
