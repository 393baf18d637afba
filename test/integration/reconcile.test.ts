// Reconciliation against an msw stand-in for Twilio's Messages API fixes deliveries whose status
// callback never came.
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { TwilioStatusLookup } from '../../src/adapters/twilio-status-lookup.js';
import type { DeliveryState } from '../../src/domain/delivery.js';
import { createLogger } from '../../src/logger.js';
import { InMemoryMetricsSink, MetricName } from '../../src/metrics.js';
import { reconcileDeliveries } from '../../src/services/reconcile.js';
import { deliveriesWithStatus, setMessageStatus, useTestDb } from '../support/db.js';

const { db } = useTestDb();
const ACCOUNT = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'f3a9c1d2e4b5a6c7d8e9f0a1b2c3d4e5';
const BASE = `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}`;
const NOW = new Date('2026-11-25T18:00:00Z');
const CLAIMED = new Date('2026-11-24T17:00:00Z');
const SID = `SM${'a'.repeat(32)}`;
const PHONE = '+14155550123';
const PRICES = { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 };

const requests: Request[] = [];
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  requests.length = 0;
});
afterAll(() => server.close());

function twilioMessage(overrides: Record<string, unknown>) {
  return {
    account_sid: ACCOUNT,
    api_version: '2010-04-01',
    body: 'You are doing better than you think.',
    date_created: 'Tue, 24 Nov 2026 17:00:01 +0000',
    date_sent: 'Tue, 24 Nov 2026 17:00:02 +0000',
    date_updated: 'Tue, 24 Nov 2026 17:00:09 +0000',
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: '+14155550100',
    messaging_service_sid: null,
    num_media: '0',
    num_segments: '1',
    price: null,
    price_unit: 'USD',
    sid: SID,
    status: 'delivered',
    subresource_uris: {},
    to: PHONE,
    uri: `/2010-04-01/Accounts/${ACCOUNT}/Messages/${SID}.json`,
    ...overrides,
  };
}

async function openDelivery(state: DeliveryState, sid: string | null, claimedAt = CLAIMED, phone = PHONE) {
  const { id: subscriberId } = await db()
    .insertInto('subscribers')
    .values({ phone, time_zone: 'America/New_York', status: 'active' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const { id } = await db()
    .insertInto('deliveries')
    .values({
      subscriber_id: subscriberId,
      local_date: claimedAt.toISOString().slice(0, 10),
      time_zone: 'America/New_York',
      window_start: new Date(claimedAt.getTime() - 3_600_000),
      window_end: new Date(claimedAt.getTime() + 3_600_000),
      planned_at: claimedAt,
      claimed_at: claimedAt,
      state,
      message_sid: sid,
      body: 'You are doing better than you think.',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (sid) await setMessageStatus(db(), sid, 'sent');
  return id;
}

function deps(metrics = new InMemoryMetricsSink()) {
  return {
    db: db(),
    lookup: new TwilioStatusLookup({ accountSid: ACCOUNT, authToken: TOKEN }),
    clock: { now: () => NOW },
    metrics,
    logger: createLogger({ level: 'SILENT' }),
    prices: PRICES,
  };
}

it('fixes a delivery stuck at "sent" with what Twilio reports, and records a status event', async () => {
  const id = await openDelivery('sent', SID);
  server.use(
    http.get(`${BASE}/Messages/:sid.json`, ({ request, params }) => {
      requests.push(request.clone());
      return HttpResponse.json(twilioMessage({ sid: params.sid, status: 'undelivered', error_code: 30003 }));
    }),
  );
  const metrics = new InMemoryMetricsSink();

  const result = await reconcileDeliveries(deps(metrics));

  expect(result).toMatchObject({ checked: 1, updated: 1, errors: 0 });
  expect(requests).toHaveLength(1);
  const [request] = requests;
  expect(request?.method).toBe('GET');
  expect(new URL(request?.url ?? '').pathname).toBe(`/2010-04-01/Accounts/${ACCOUNT}/Messages/${SID}.json`);
  expect(request?.headers.get('authorization')).toBe(
    `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`,
  );
  const row = await deliveriesWithStatus(db()).where('id', '=', id).executeTakeFirstOrThrow();
  expect(row).toMatchObject({
    state: 'sent',
    delivery_status: 'undelivered',
    status_error_code: 30003,
    segments: 1,
  });
  expect(row.sent_at?.toISOString()).toBe('2026-11-24T17:00:02.000Z');
  const events = await db()
    .selectFrom('delivery_status_events')
    .select(['message_sid', 'status', 'error_code'])
    .execute();
  expect(events).toEqual([{ message_sid: SID, status: 'undelivered', error_code: 30003 }]);
  expect(metrics.total(MetricName.MessagesUndelivered)).toBe(1);
  expect(metrics.total(MetricName.DeliveriesReconciled)).toBe(1);
});

it('leaves recent and already-final deliveries alone', async () => {
  await openDelivery('sent', `SM${'b'.repeat(32)}`, new Date(NOW.getTime() - 3_600_000), '+14155550124');
  await openDelivery('sent', `SM${'c'.repeat(32)}`, CLAIMED, '+14155550125');
  await setMessageStatus(db(), `SM${'c'.repeat(32)}`, 'delivered');
  server.use(http.get(`${BASE}/Messages/:sid.json`, () => HttpResponse.json({}, { status: 500 })));

  const result = await reconcileDeliveries(deps());

  expect(result.checked).toBe(0);
});

it('a "sending" delivery with a SID Twilio does not know is marked failed', async () => {
  const id = await openDelivery('sending', SID);
  server.use(
    http.get(`${BASE}/Messages/:sid.json`, () =>
      HttpResponse.json(
        { code: 20404, message: 'The requested resource was not found', more_info: '', status: 404 },
        { status: 404 },
      ),
    ),
  );
  const result = await reconcileDeliveries(deps());
  expect(result).toMatchObject({ checked: 1, markedNeverSent: 1 });
  const row = await db()
    .selectFrom('deliveries')
    .select(['state', 'reason'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  expect(row).toEqual({ state: 'failed', reason: 'reconcile: SID unknown to Twilio' });
});

it('an "unknown" delivery without a SID adopts the message Twilio sent to that number', async () => {
  const id = await openDelivery('unknown', null);
  server.use(
    http.get(`${BASE}/Messages.json`, ({ request }) => {
      requests.push(request.clone());
      return HttpResponse.json({
        messages: [
          twilioMessage({ sid: `SM${'d'.repeat(32)}`, direction: 'inbound', to: '+14155550100' }),
          twilioMessage({ status: 'delivered' }),
        ],
        next_page_uri: null,
        page: 0,
        page_size: 20,
        uri: `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`,
      });
    }),
  );

  const result = await reconcileDeliveries(deps());

  expect(result).toMatchObject({ checked: 1, updated: 1 });
  const query = new URL(requests[0]?.url ?? '').searchParams;
  expect(query.get('To')).toBe(PHONE);
  expect(query.get('DateSent>')).toBe('2026-11-24T16:55:00Z');
  expect(query.get('DateSent<')).toBe('2026-11-24T19:00:00Z');
  const row = await deliveriesWithStatus(db()).where('id', '=', id).executeTakeFirstOrThrow();
  expect(row).toMatchObject({ state: 'sent', message_sid: SID, delivery_status: 'delivered' });
});

it('an "unknown" delivery without a SID never adopts another text to that number (a HELP reply)', async () => {
  const id = await openDelivery('unknown', null);
  const helpSid = `SM${'b'.repeat(32)}`;
  server.use(
    http.get(`${BASE}/Messages.json`, () =>
      HttpResponse.json({
        messages: [
          twilioMessage({
            sid: helpSid,
            body: 'Daily Positivity: one kind text a day. Reply STOP to opt out.',
            date_sent: 'Tue, 24 Nov 2026 17:20:00 +0000',
          }),
        ],
        next_page_uri: null,
        page: 0,
        page_size: 20,
        uri: `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`,
      }),
    ),
  );

  const result = await reconcileDeliveries(deps());

  expect(result).toMatchObject({ checked: 1, updated: 0, markedNeverSent: 1 });
  const row = await deliveriesWithStatus(db()).where('id', '=', id).executeTakeFirstOrThrow();
  expect(row).toMatchObject({
    state: 'failed',
    message_sid: null,
    reason: 'reconcile: no message found at Twilio',
  });
});

it('a message found for an "unknown" delivery is counted once in usage, cost and quota', async () => {
  // The sender counted the writing (1000 + 50 tokens) when the Twilio answer was lost, and nothing else.
  const id = await openDelivery('unknown', null);
  await db()
    .updateTable('deliveries')
    .set({ reason: 'twilio_outcome_unknown', tokens_in: 1000, tokens_out: 50 })
    .where('id', '=', id)
    .execute();
  await db()
    .insertInto('usage_daily')
    .values({ day: '2026-11-24', openai_tokens_in: 1000, openai_tokens_out: 50, estimated_cost_usd: 0.00018 })
    .execute();
  const ours = twilioMessage({ status: 'sent', num_segments: '2' });
  server.use(
    http.get(`${BASE}/Messages.json`, () =>
      HttpResponse.json({ messages: [ours], next_page_uri: null, page: 0, page_size: 20, uri: '/x' }),
    ),
    http.get(`${BASE}/Messages/:sid.json`, () => HttpResponse.json(ours)),
  );

  expect(await reconcileDeliveries(deps())).toMatchObject({ updated: 1 });
  // Still `sent` without a final status: the next run asks again, and must not count it twice.
  expect(await reconcileDeliveries(deps())).toMatchObject({ checked: 1 });

  const row = await deliveriesWithStatus(db()).where('id', '=', id).executeTakeFirstOrThrow();
  expect(row).toMatchObject({ state: 'sent', message_sid: SID, segments: 2 });
  expect(Number(row.cost_usd)).toBeCloseTo(0.00018 + 2 * 0.0083, 6);
  const usage = await db().selectFrom('usage_daily').selectAll().execute();
  expect(usage).toHaveLength(1);
  expect(usage[0]).toMatchObject({ day: '2026-11-24', sms_sent: 1, sms_segments: 2, openai_tokens_in: 1000 });
  expect(Number(usage[0]?.estimated_cost_usd)).toBeCloseTo(0.00018 + 2 * 0.0083, 6);
  const quota = await db().selectFrom('sms_quota_days').select(['local_date', 'sms_sent']).execute();
  expect(quota).toEqual([{ local_date: '2026-11-24', sms_sent: 1 }]);
});

it('an "unknown" delivery without a SID and no message at Twilio is marked never sent', async () => {
  const id = await openDelivery('unknown', null);
  server.use(
    http.get(`${BASE}/Messages.json`, () =>
      HttpResponse.json({ messages: [], next_page_uri: null, page: 0, page_size: 20, uri: '/x' }),
    ),
  );
  const result = await reconcileDeliveries(deps());
  expect(result).toMatchObject({ markedNeverSent: 1 });
  const row = await db()
    .selectFrom('deliveries')
    .select(['state', 'reason'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  expect(row).toEqual({ state: 'failed', reason: 'reconcile: no message found at Twilio' });
});

it('a Twilio outage counts an error and changes nothing', async () => {
  const id = await openDelivery('sent', SID);
  server.use(
    http.get(`${BASE}/Messages/:sid.json`, () =>
      HttpResponse.json({ code: 20500, message: 'Internal error', status: 500 }, { status: 500 }),
    ),
  );
  const result = await reconcileDeliveries(deps());
  expect(result).toMatchObject({ checked: 1, errors: 1, updated: 0 });
  const row = await deliveriesWithStatus(db()).where('id', '=', id).executeTakeFirstOrThrow();
  expect(row.delivery_status).toBe('sent');
});

it('marks claims left in sending for over 15 minutes unknown, leaving fresh ones and Twilio alone', async () => {
  const stale = await openDelivery('sending', null, new Date(NOW.getTime() - 16 * 60_000));
  const fresh = await openDelivery('sending', null, new Date(NOW.getTime() - 10 * 60_000), '+14155550124');

  const result = await reconcileDeliveries(deps());

  expect(result).toMatchObject({ staleClaims: 1, checked: 0 });
  expect(requests).toEqual([]); // claimed minutes ago: Twilio is asked about them a day later
  const states = await db()
    .selectFrom('deliveries')
    .select(['id', 'state', 'reason'])
    .where('id', 'in', [stale, fresh])
    .execute();
  expect(new Map(states.map((r) => [r.id, [r.state, r.reason]]))).toEqual(
    new Map([
      [stale, ['unknown', 'claim not completed; check Twilio before any resend']],
      [fresh, ['sending', null]],
    ]),
  );
});
