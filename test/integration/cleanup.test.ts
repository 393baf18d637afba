// Retention on a real Postgres: exactly the rows past retention go (the local outbox's texts too), consent
// within its period and usage rows stay; a sign-up nobody answered goes after PENDING_EXPIRY_DAYS, and a YES
// racing that delete is never lost.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/connection.js';
import { receiveInboundSms } from '../../src/db/repositories/inbound.js';
import { deleteExpiredInvitations } from '../../src/db/repositories/retention.js';
import type { E164 } from '../../src/domain/phone.js';
import { optInConfirmation } from '../../src/domain/replies.js';
import { createLogger } from '../../src/logger.js';
import { InMemoryMetricsSink, MetricName } from '../../src/metrics.js';
import { runCleanup } from '../../src/services/cleanup.js';
import { handleInboundSms, type InboundResult } from '../../src/services/inbound.js';
import { systemClock } from '../../src/services/ports.js';
import { createSubscriber } from '../../src/services/subscribers.js';
import { useTestDb } from '../support/db.js';
import { eventually } from '../support/eventually.js';
import { newSid, RecordingScheduler, RecordingSms } from '../support/webhook-doubles.js';

const { db } = useTestDb();
const NOW = new Date('2026-11-25T09:00:00Z');
const DAY = 86_400_000;
const daysAgo = (d: number) => new Date(NOW.getTime() - d * DAY);
const config = { RETENTION_DAYS: 90, CONSENT_RETENTION_DAYS: 1825, PENDING_EXPIRY_DAYS: 30 };
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
      pendingSubscribersDeleted: 0,
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
    expect(result.batches).toBe(2 + 3 + 3 + 2 + 3 + 1);
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
      pendingSubscribersDeleted: 0,
      batches: 6,
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

describe('unanswered sign-ups', () => {
  const replies = { serviceName: 'Daily Positivity', helpContact: 'help@example.com' };
  const SERVICE_NUMBER = '+15005550006';

  /** Signs `phone` up as the API does (pending row, the ledger's opt-in request, the YES request sent). */
  async function signUp(phone: string, name: string | null = null): Promise<number> {
    await createSubscriber(
      {
        db: db(),
        sms: new RecordingSms(),
        scheduler: new RecordingScheduler(),
        clock: systemClock,
        settings: {
          ...replies,
          defaultTimeZone: 'UTC',
          statusCallbackUrl: 'https://sms.example.com/twilio/status',
        },
        window: { startMinute: 720, endMinute: 1020 },
      },
      { phone: phone as E164, name },
    );
    const row = await db()
      .selectFrom('subscribers')
      .select('id')
      .where('phone', '=', phone)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** Dates the sign-up of `phone` (its row and its ledger entries) `days` before NOW. */
  async function signedUpDaysAgo(phone: string, days: number): Promise<void> {
    await db()
      .connection()
      .execute(async (conn) => {
        // The ledger's append-only guard would refuse the move.
        await sql`SET session_replication_role = replica`.execute(conn);
        try {
          await sql`UPDATE subscribers SET created_at = ${daysAgo(days)} WHERE phone = ${phone}`.execute(
            conn,
          );
          await sql`UPDATE consent_events SET created_at = ${daysAgo(days)} WHERE phone = ${phone}`.execute(
            conn,
          );
        } finally {
          await sql`SET session_replication_role = DEFAULT`.execute(conn);
        }
      });
  }

  const phones = async () =>
    (await db().selectFrom('subscribers').select(['phone', 'status', 'name']).orderBy('phone').execute()).map(
      (s) => `${s.phone} ${s.status} ${s.name ?? '-'}`,
    );
  const ledgerOf = (phone: string) =>
    db()
      .selectFrom('consent_events')
      .select(['kind', 'source', 'trigger_text', 'subscriber_id'])
      .where('phone', '=', phone)
      .orderBy('id')
      .execute();
  const cleanup = (clock = { now: () => NOW }) =>
    runCleanup({ db: db(), clock, metrics: new InMemoryMetricsSink(), logger: quiet }, config, {
      batchSize: 1,
    });

  it('deletes a sign-up unanswered for PENDING_EXPIRY_DAYS and nothing else; its ledger entries stay, unlinked', async () => {
    // Prepare: one sign-up past 30 days (it also texted something else than YES), one within them.
    const expired = await signUp('+14155550101', 'Ann');
    await signedUpDaysAgo('+14155550101', 30.01);
    await db()
      .insertInto('inbound_messages')
      .values({
        message_sid: 'SMhi',
        from_phone: '+14155550101',
        body: 'who is this?',
        classification: 'other',
        subscriber_id: expired,
        received_at: daysAgo(29),
      } as never)
      .execute();
    const young = await signUp('+14155550102', 'Bea');
    await signedUpDaysAgo('+14155550102', 29.99);
    // Active and opted-out rows of any age stay: an opted-out row keeps the API from signing them up again.
    await db()
      .insertInto('subscribers')
      .values([
        {
          phone: '+14155550103',
          status: 'active',
          time_zone: 'UTC',
          name: 'Cy',
          confirmed_at: daysAgo(400),
          created_at: daysAgo(400),
        },
        {
          phone: '+14155550104',
          status: 'opted_out',
          time_zone: 'UTC',
          name: 'Di',
          opted_out_at: daysAgo(400),
          created_at: daysAgo(400),
        },
      ] as never)
      .execute();
    // A pending row whose ledger holds more than its own request (no path writes one today): deleted all the
    // same; every entry stays as proof.
    const odd = await signUp('+14155550105', 'Ed');
    await db()
      .insertInto('consent_events')
      .values({
        subscriber_id: odd,
        phone: '+14155550105',
        kind: 'opt_in',
        source: 'sms',
        trigger_text: 'START',
      })
      .execute();
    await signedUpDaysAgo('+14155550105', 400);

    // Act
    const result = await cleanup();

    // Assess
    expect(result).toMatchObject({
      pendingSubscribersDeleted: 2,
      complete: true,
      pendingCutoff: daysAgo(30).toISOString(),
    });
    expect(await phones()).toEqual([
      '+14155550102 pending Bea',
      '+14155550103 active Cy',
      '+14155550104 opted_out Di',
    ]);
    // The request we texted them, and Ed's odd entry, stay until CONSENT_RETENTION_DAYS: why we texted them.
    expect(await ledgerOf('+14155550101')).toEqual([
      { kind: 'opt_in', source: 'api', trigger_text: null, subscriber_id: null },
    ]);
    expect(await ledgerOf('+14155550105')).toEqual([
      { kind: 'opt_in', source: 'api', trigger_text: null, subscriber_id: null },
      { kind: 'opt_in', source: 'sms', trigger_text: 'START', subscriber_id: null },
    ]);
    expect(await ledgerOf('+14155550102')).toEqual([
      { kind: 'opt_in', source: 'api', trigger_text: null, subscriber_id: young },
    ]);
    // Their text stays until RETENTION_DAYS like anyone's, no longer tied to a subscriber.
    expect(
      await db().selectFrom('inbound_messages').select(['from_phone', 'subscriber_id']).execute(),
    ).toEqual([{ from_phone: '+14155550101', subscriber_id: null }]);
    expect((await cleanup()).pendingSubscribersDeleted).toBe(0);
  });

  it('finds every row pointing at a subscriber by an index, as each deleted row’s foreign keys look them up', async () => {
    // Unindexed, each deleted subscriber scanned the whole ledger and inbound table: 100 rows took 14 s.
    const { rows } = await sql<{ reference: string }>`
      SELECT c.conrelid::regclass || '.' || a.attname AS reference
      FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.confrelid = 'subscribers'::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_index i
                        WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1] AND i.indpred IS NULL)`.execute(
      db(),
    );
    expect(rows).toEqual([]);
  });

  it('leaves a sign-up confirmed by a YES that holds the row while the cleanup runs', async () => {
    // Prepare
    const id = await signUp('+14155550106', 'Flo');
    await signedUpDaysAgo('+14155550106', 45);

    // Act: the YES has made the row active but not committed yet when the cleanup comes by.
    const during = await db()
      .transaction()
      .execute(async (trx) => {
        const yes = await receiveInboundSms(trx, {
          messageSid: newSid(),
          from: '+14155550106',
          to: SERVICE_NUMBER,
          body: 'YES',
          classification: 'opt_in',
          defaultTimeZone: 'UTC',
          now: new Date(),
          limitPerMinute: null,
          requestToken: randomUUID(),
          keptToken: null,
        });
        expect(yes).toMatchObject({ outcome: 'applied', consentKind: 'confirm' });
        return cleanup();
      });

    // Assess: skipped, not waited for and not deleted; active once the YES commits, and after the next run.
    expect(during.pendingSubscribersDeleted).toBe(0);
    expect((await cleanup()).pendingSubscribersDeleted).toBe(0);
    const row = await db()
      .selectFrom('subscribers')
      .selectAll()
      .where('phone', '=', '+14155550106')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ id, status: 'active', name: 'Flo' });
    expect(row.confirmed_at).not.toBeNull();
  });

  it('turns a YES that arrives while the cleanup deletes the row into a sign-up by SMS, not an error', async () => {
    // Prepare
    const id = await signUp('+14155550107', 'Gus');
    await signedUpDaysAgo('+14155550107', 45);
    const deps = {
      db: db(),
      scheduler: new RecordingScheduler(),
      clock: systemClock,
      settings: { ...replies, advancedOptOut: false, defaultTimeZone: 'UTC' },
    };

    // Act: the cleanup's statement has deleted the row, uncommitted, when the YES comes in.
    let answer: Promise<InboundResult> | undefined;
    await db()
      .transaction()
      .execute(async (trx) => {
        expect(await deleteExpiredInvitations(trx, daysAgo(30), 5_000)).toBe(1);
        answer = handleInboundSms(deps, {
          messageSid: newSid(),
          from: '+14155550107',
          to: SERVICE_NUMBER,
          body: 'YES',
          optOutType: null,
        });
        answer.catch(() => {});
        await eventually(
          'the YES waiting on the row the cleanup holds',
          async () =>
            (
              await sql<{ n: number }>`
                SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND query LIKE '%receive_inbound_sms%'`.execute(db())
            ).rows[0]?.n ?? 0,
          (n) => n > 0,
        );
      });

    // Assess: a YES from a number we no longer know subscribes it, as START does; the name went with the row.
    expect(await answer).toMatchObject({
      kind: 'opt_in',
      duplicate: false,
      reply: optInConfirmation(replies),
    });
    const row = await db()
      .selectFrom('subscribers')
      .selectAll()
      .where('phone', '=', '+14155550107')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'active', name: null });
    expect(row.id).not.toBe(id);
    // The expired request, unlinked, then their own YES, tied to their new row.
    expect(await ledgerOf('+14155550107')).toEqual([
      { kind: 'opt_in', source: 'api', trigger_text: null, subscriber_id: null },
      { kind: 'opt_in', source: 'sms', trigger_text: 'YES', subscriber_id: row.id },
    ]);
  });
});
