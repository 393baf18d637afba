// POST /twilio/status against a real Postgres: stored once per (sid, status), forward-only, ErrorCode kept,
// 21610 honoured as a carrier opt-out, unknown sids stored.
import type { Hono } from 'hono';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { receiveStatusCallback } from '../../src/db/repositories/deliveries/callbacks.js';
import { deliveryById } from '../../src/db/repositories/deliveries/listing.js';
import { claimDelivery, recordSent } from '../../src/db/repositories/deliveries/sending.js';
import { shouldAdvance } from '../../src/domain/delivery-status.js';
import { deliveriesWithStatus, setMessageStatus, useTestDb } from '../support/db.js';
import {
  newSid,
  RecordingScheduler,
  rowCounts,
  seedSubscriber,
  signedForm,
  statusParams,
  testApp,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
let scheduler: RecordingScheduler;
let app: Hono;

beforeEach(() => {
  scheduler = new RecordingScheduler();
  app = testApp({ db: t.db(), scheduler });
});

function post(params: Record<string, string>, options: Parameters<typeof signedForm>[2] = {}) {
  const { body, headers } = signedForm('/twilio/status', params, options);
  return app.request('/twilio/status', { method: 'POST', body, headers });
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

const localDate = (i: number) => new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10);

describe('out-of-order callbacks', () => {
  it.each([
    [['queued', 'sending', 'sent', 'delivered'], 'delivered', null],
    [['sending', 'sent', 'undelivered'], 'undelivered', '30003'],
  ])('every order of %j ends on %s', async (sequence, final, errorCode) => {
    const orders = permutations(sequence);
    const { subscriber } = await seedSubscriber(t.db(), { phone: PHONE });
    const sids: string[] = [];
    for (const [i, order] of orders.entries()) {
      const sid = newSid();
      sids.push(sid);
      await t
        .db()
        .insertInto('deliveries')
        .values({
          subscriber_id: subscriber.id,
          local_date: localDate(i),
          time_zone: 'America/New_York',
          window_start: new Date('2026-01-01T17:00:00Z'),
          window_end: new Date('2026-01-01T22:00:00Z'),
          planned_at: new Date('2026-01-01T18:00:00Z'),
          state: 'sent',
          claimed_at: new Date(),
          sent_at: new Date(),
          message_sid: sid,
        })
        .execute();
      await setMessageStatus(t.db(), sid, 'accepted');
      for (const status of order) {
        const extra: Record<string, string> =
          errorCode && status === final ? { ErrorCode: errorCode, ErrorMessage: 'Unreachable' } : {};
        const res = await post(statusParams(sid, status, extra));
        expect(res.status).toBe(204);
      }
    }
    const rows = await deliveriesWithStatus(t.db()).execute();
    expect(rows).toHaveLength(orders.length);
    for (const row of rows) {
      expect(row.delivery_status).toBe(final);
      expect(row.status_error_code).toBe(errorCode ? Number(errorCode) : null);
    }
    const events = await t.db().selectFrom('delivery_status_events').select('message_sid').execute();
    expect(events).toHaveLength(orders.length * sequence.length);
  });

  it('a repeated callback is stored once', async () => {
    const sid = newSid();
    await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    await post(statusParams(sid, 'delivered'));
    await post(statusParams(sid, 'delivered'));
    const events = await t.db().selectFrom('delivery_status_events').selectAll().execute();
    expect(events).toHaveLength(1);
  });

  it('a late sent never overwrites delivered', async () => {
    const sid = newSid();
    await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    await post(statusParams(sid, 'delivered'));
    await post(statusParams(sid, 'sent'));
    const row = await deliveriesWithStatus(t.db()).executeTakeFirstOrThrow();
    expect(row.delivery_status).toBe('delivered');
  });

  it('a callback that beats the sender to the database keeps its status when the sender records queued', async () => {
    // Twilio answers the create call and starts calling back at once: 'delivered' may commit before the
    // sender has written the MessageSid on its delivery.
    const sid = newSid();
    const { delivery } = await seedSubscriber(t.db(), { phone: PHONE }, { state: 'planned' });
    const claimed = await claimDelivery(t.db(), delivery?.id ?? '', new Date());
    expect(claimed).toBeDefined();
    expect((await post(statusParams(sid, 'delivered'))).status).toBe(204);
    await recordSent(t.db(), delivery?.id ?? '', {
      messageSid: sid,
      status: 'queued',
      sentAt: new Date(),
      body: 'You matter.',
      segments: 1,
      model: null,
      fallback: true,
      tokensIn: 0,
      tokensOut: 0,
      costUsd: 0.0083,
    });
    expect(await deliveryById(t.db(), delivery?.id ?? '')).toMatchObject({
      state: 'sent',
      messageSid: sid,
      deliveryStatus: 'delivered',
    });
  });
});

describe('21610 and unknown sids', () => {
  it('21610 opts the subscriber out (source carrier) and cancels their planned delivery', async () => {
    const sid = newSid();
    const { subscriber } = await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    const planned = await t
      .db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriber.id,
        local_date: '2026-11-26',
        time_zone: 'America/New_York',
        window_start: new Date(Date.now() + 86_400_000),
        window_end: new Date(Date.now() + 2 * 86_400_000),
        planned_at: new Date(Date.now() + 90_000_000),
      })
      .returning('id')
      .executeTakeFirstOrThrow();

    const res = await post(
      statusParams(sid, 'failed', { ErrorCode: '21610', ErrorMessage: 'Unsubscribed recipient' }),
    );

    expect(res.status).toBe(204);
    expect(await t.db().selectFrom('subscribers').select('status').executeTakeFirst()).toEqual({
      status: 'opted_out',
    });
    expect(await t.db().selectFrom('consent_events').selectAll().execute()).toMatchObject([
      { kind: 'opt_out', source: 'carrier', message_sid: sid, subscriber_id: subscriber.id },
    ]);
    const sent = await deliveriesWithStatus(t.db())
      .where('deliveries.message_sid', '=', sid)
      .executeTakeFirst();
    expect(sent).toMatchObject({ delivery_status: 'failed', status_error_code: 21610 });
    const cancelled = await t
      .db()
      .selectFrom('deliveries')
      .selectAll()
      .where('id', '=', planned.id)
      .executeTakeFirst();
    expect(cancelled).toMatchObject({ state: 'cancelled', reason: 'opted_out' });
    expect(scheduler.cancelled).toEqual([planned.id]);
  });

  it('an unknown MessageSid is stored and answered 204', async () => {
    const sid = newSid();
    const res = await post(statusParams(sid, 'delivered'));
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(await t.db().selectFrom('delivery_status_events').selectAll().execute()).toMatchObject([
      { message_sid: sid, status: 'delivered', error_code: null },
    ]);
  });

  it('21610 for an unknown sid still opts out the subscriber with that To number', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(statusParams(newSid(), 'undelivered', { ErrorCode: '21610', To: PHONE }));
    expect(res.status).toBe(204);
    expect(await t.db().selectFrom('subscribers').select('status').executeTakeFirst()).toEqual({
      status: 'opted_out',
    });
  });

  it('older callbacks with only SmsStatus are understood', async () => {
    const sid = newSid();
    const { MessageStatus: _omit, ...params } = statusParams(sid, 'sent');
    expect((await post(params)).status).toBe(204);
    expect(await t.db().selectFrom('delivery_status_events').select('status').execute()).toEqual([
      { status: 'sent' },
    ]);
  });
});

describe('control characters in signed fields', () => {
  it.each([
    ['To', { To: '+1212555\u00000123' }],
    ['From', { From: '+1415555\u00000100' }],
    ['ErrorMessage', { ErrorCode: '30003', ErrorMessage: 'Unreachable\u0000' }],
  ])('a NUL in %s is answered 2xx or 400, never 500', async (_label, extra) => {
    const sid = newSid();
    await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    const res = await post(statusParams(sid, 'delivered', extra));
    expect(res.status).toBeLessThan(500);
    expect([204, 400]).toContain(res.status);
  });

  it('a 21610 whose To carries a NUL still opts out the subscriber of that number', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(
      statusParams(newSid(), 'undelivered', { ErrorCode: '21610', To: `${PHONE}\u0000` }),
    );
    expect(res.status).toBe(204);
    expect(await t.db().selectFrom('subscribers').select('status').executeTakeFirst()).toEqual({
      status: 'opted_out',
    });
  });
});

describe('rejected callbacks', () => {
  it.each([
    ['missing', { signature: null }],
    ['forged', { signature: 'Zm9yZ2Vk' }],
  ] as const)('a %s signature → 403 and zero rows changed', async (_label, options) => {
    const sid = newSid();
    await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    const before = await rowCounts(t.db());
    const res = await post(statusParams(sid, 'failed', { ErrorCode: '21610' }), options);
    expect(res.status).toBe(403);
    expect(await rowCounts(t.db())).toEqual(before);
    expect(await t.db().selectFrom('subscribers').select('status').executeTakeFirst()).toEqual({
      status: 'active',
    });
  });

  it.each([
    ['no status', { MessageStatus: '', SmsStatus: '' }],
    ['a status that is not one', { MessageStatus: 'DELIVERED; DROP TABLE', SmsStatus: '' }],
    ['a non-numeric ErrorCode', { ErrorCode: 'abc' }],
    ['no MessageSid', { MessageSid: '' }],
  ])('%s → 400, nothing stored', async (_label, override) => {
    const res = await post({ ...statusParams(newSid(), 'delivered'), ...override });
    expect(res.status).toBe(400);
    expect(await rowCounts(t.db())).toMatchObject({ delivery_status_events: 0 });
  });
});

describe('the SQL status order and the domain agree', () => {
  it('delivery_status_advances(current, next) = shouldAdvance(current, next) for every pair', async () => {
    const statuses = [
      null,
      'scheduled',
      'accepted',
      'queued',
      'sending',
      'sent',
      'delivered',
      'undelivered',
      'failed',
      'canceled',
      'partially_delivered',
      'read',
      'receiving',
      'some_future_status',
    ];
    const pairs = statuses.flatMap((current) =>
      statuses.filter((n): n is string => n !== null).map((next) => [current, next] as const),
    );
    const { rows } = await sql<{ current: string | null; next: string; advances: boolean }>`
      SELECT p.current, p.next, delivery_status_advances(p.current, p.next) AS advances
        FROM jsonb_to_recordset(${JSON.stringify(pairs.map(([current, next]) => ({ current, next })))}::jsonb)
          AS p(current text, next text)`.execute(t.db());
    expect(rows).toHaveLength(pairs.length);
    for (const row of rows) {
      expect(row.advances, `${row.current} → ${row.next}`).toBe(shouldAdvance(row.current, row.next));
    }
  });
});

describe('what a status callback waits for', () => {
  const setting = async (db: Parameters<typeof receiveStatusCallback>[0]) =>
    (await sql<{ value: string }>`SELECT current_setting('synchronous_commit') AS value`.execute(db)).rows[0]
      ?.value;

  /**
   * The callback's statement in a transaction of its own, on a session that waits for the WAL flush as a
   * production server does (the tests' server does not); what its commit would use.
   */
  async function commitSetting(row: {
    status: string;
    errorCode: number | null;
    recipientOptedOut: boolean;
  }) {
    return t
      .db()
      .transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL synchronous_commit = on`.execute(trx);
        const applied = await receiveStatusCallback(trx, {
          messageSid: newSid(),
          to: PHONE,
          now: new Date(),
          limitPerMinute: 120,
          ...row,
        });
        return { outcome: applied.outcome, setting: await setting(trx) };
      });
  }

  it('an ordinary status commits without waiting for the WAL flush, for that transaction only', async () => {
    expect(await commitSetting({ status: 'delivered', errorCode: null, recipientOptedOut: false })).toEqual({
      outcome: 'applied',
      setting: 'off',
    });
    // On one session that waits for the flush: after the callback's transaction it still does.
    const after = await t
      .db()
      .connection()
      .execute(async (conn) => {
        await sql`SET synchronous_commit = on`.execute(conn);
        try {
          await conn.transaction().execute((trx) =>
            receiveStatusCallback(trx, {
              messageSid: newSid(),
              status: 'sent',
              errorCode: null,
              recipientOptedOut: false,
              to: PHONE,
              now: new Date(),
              limitPerMinute: 120,
            }),
          );
          return await setting(conn);
        } finally {
          await sql`RESET synchronous_commit`.execute(conn);
        }
      });
    expect(after).toBe('on');
  });

  it('a carrier opt-out (21610) is a consent change and waits for the flush', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    expect(await commitSetting({ status: 'failed', errorCode: 21610, recipientOptedOut: true })).toEqual({
      outcome: 'applied',
      setting: 'on',
    });
  });
});
