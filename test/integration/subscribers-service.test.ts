// The consent ledger says who acted: the API by default, an operator for the CLI and the dev page.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/connection.js';
import type { E164 } from '../../src/domain/phone.js';
import { createSubscriber, removeSubscriber, type SubscriberDeps } from '../../src/services/subscribers.js';
import { useTestDb } from '../support/db.js';
import { PUBLIC_BASE_URL, RecordingScheduler, RecordingSms } from '../support/webhook-doubles.js';

const { db, url } = useTestDb();
const PHONE = '+14155550123' as E164;

function deps(consentSource?: 'api' | 'operator'): SubscriberDeps {
  return {
    db: db(),
    sms: new RecordingSms(),
    scheduler: new RecordingScheduler(),
    clock: { now: () => new Date('2026-11-25T15:00:00Z') },
    window: { startMinute: 12 * 60, endMinute: 17 * 60 },
    consentSource,
    settings: {
      serviceName: 'Daily Positivity',
      helpContact: 'help@example.com',
      defaultTimeZone: 'America/New_York',
      statusCallbackUrl: `${PUBLIC_BASE_URL}/twilio/status`,
    },
  };
}

const ledger = () => db().selectFrom('consent_events').select(['kind', 'source']).orderBy('id').execute();

describe('consent source of subscriber changes', () => {
  it('records the API as the source by default', async () => {
    await createSubscriber(deps(), { phone: PHONE });
    await removeSubscriber(deps(), PHONE);
    expect(await ledger()).toEqual([
      { kind: 'opt_in', source: 'api' },
      { kind: 'opt_out', source: 'api' },
    ]);
  });

  it('records an operator when the CLI or dev page acts', async () => {
    await createSubscriber(deps('operator'), { phone: PHONE, name: 'Ana' });
    await removeSubscriber(deps('operator'), PHONE);
    expect(await ledger()).toEqual([
      { kind: 'opt_in', source: 'operator' },
      { kind: 'opt_out', source: 'operator' },
    ]);
  });
});

describe('removing a subscriber', () => {
  async function delivery(subscriberId: number, localDate: string, fields: Record<string, unknown>) {
    const start = new Date(`${localDate}T17:00:00Z`);
    return db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriberId,
        local_date: localDate,
        time_zone: 'America/New_York',
        window_start: start,
        window_end: new Date(start.getTime() + 5 * 3_600_000),
        planned_at: start,
        claimed_at: start,
        body: 'Hi Ana! You matter.',
        ...fields,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  }

  it('erases the name from the texts that greeted them by it, except one reconciliation still has to match', async () => {
    // Prepare: sent and unknown-with-SID messages, and one whose send timed out before Twilio gave a SID.
    const { id } = await db()
      .insertInto('subscribers')
      .values({
        phone: PHONE,
        status: 'active',
        time_zone: 'America/New_York',
        name: 'Ana',
        confirmed_at: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const sent = await delivery(id, '2026-11-22', { state: 'sent', message_sid: `SM${'1'.repeat(32)}` });
    const unknownWithSid = await delivery(id, '2026-11-23', {
      state: 'unknown',
      message_sid: `SM${'2'.repeat(32)}`,
    });
    const noSid = await delivery(id, '2026-11-24', { state: 'unknown', message_sid: null });

    // Act
    const view = await removeSubscriber(deps(), PHONE);

    // Assess
    expect(view).toMatchObject({ status: 'opted_out', name: null });
    const bodies = Object.fromEntries(
      (await db().selectFrom('deliveries').select(['id', 'body']).execute()).map((d) => [d.id, d.body]),
    );
    expect(bodies).toEqual({
      [sent.id]: null,
      [unknownWithSid.id]: null,
      // Reconciliation matches a send without a SID by its text alone; retention clears it later.
      [noSid.id]: 'Hi Ana! You matter.',
    });
  });
});

describe('removing a subscriber who had already opted out', () => {
  const row = () =>
    db().selectFrom('subscribers').select(['status', 'opted_out_at', 'name']).executeTakeFirstOrThrow();
  const optedOutOn = (at: string) =>
    db()
      .insertInto('subscribers')
      .values({ phone: PHONE, status: 'opted_out', opted_out_at: at, time_zone: 'UTC', name: 'Ana' })
      .execute();

  it('dates the opt-out at the removal (their latest opt-out request) and erases the name, no ledger entry', async () => {
    await optedOutOn('2026-11-20T10:00:00Z');

    await removeSubscriber(deps(), PHONE);

    expect(await row()).toEqual({
      status: 'opted_out',
      opted_out_at: new Date('2026-11-25T15:00:00Z'),
      name: null,
    });
    expect(await ledger()).toEqual([]);
  });

  it('opts them out even when a START reactivates them between its first look and its lock', async () => {
    // Prepare: a START's transaction has reactivated them but not committed yet, so the removal's first
    // UPDATE (not opted out yet?) sees them out and passes, and its next statement waits for the row.
    await optedOutOn('2026-11-20T10:00:00Z');
    const start = new pg.Client({ connectionString: url() });
    await start.connect();
    const removing = createDb({ connectionString: url(), max: 1, applicationName: 'dps-removal' });
    try {
      await start.query('BEGIN');
      await start.query(
        `UPDATE subscribers SET status = 'active', opted_out_at = NULL, confirmed_at = now()`,
      );
      const removal = removeSubscriber({ ...deps(), db: removing }, PHONE);
      await waitForLock(start, 'dps-removal');

      // Act
      await start.query('COMMIT');
      const view = await removal;

      // Assess
      expect(view.status).toBe('opted_out');
      expect(await row()).toMatchObject({
        status: 'opted_out',
        opted_out_at: new Date('2026-11-25T15:00:00Z'),
      });
      expect(await ledger()).toEqual([{ kind: 'opt_out', source: 'api' }]);
    } finally {
      await start.end();
      await removing.destroy();
    }
  });

  it('keeps a later recorded opt-out as it is, and still erases the name', async () => {
    await optedOutOn('2026-11-30T10:00:00Z');

    await removeSubscriber(deps(), PHONE);

    expect(await row()).toEqual({
      status: 'opted_out',
      opted_out_at: new Date('2026-11-30T10:00:00Z'),
      name: null,
    });
  });
});

/** Waits until a backend of `appName` waits on a lock. */
async function waitForLock(client: pg.Client, appName: string): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    // Activity statistics are a snapshot per transaction, and the caller holds one open.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rowCount } = await client.query(
      `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
      [appName],
    );
    if (rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no backend of ${appName} waited on a lock`);
}
