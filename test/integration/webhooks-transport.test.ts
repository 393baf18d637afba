// One app object, two transports: an API Gateway HTTP API (v2) event through hono/aws-lambda, and real HTTP
// through @hono/node-server on a free port. Also the Lambda handler's cold-start wiring, the database being
// down (503), and Twilio-route rate limiting.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/connection.js';
import { WEBHOOK_DB_BUDGET } from '../../src/domain/call-budgets.js';
import { createWebhooksHandler } from '../../src/handlers/webhooks.js';
import { InMemoryMetricsSink } from '../../src/metrics.js';
import type { KeptWebhook } from '../../src/services/ports.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import {
  ACCOUNT_SID,
  API_TOKEN,
  AUTH_TOKEN,
  CountingLimiter,
  inboundParams,
  newSid,
  PUBLIC_BASE_URL,
  RecordingScheduler,
  RecordingSms,
  rowCounts,
  seedSubscriber,
  signedForm,
  statusParams,
  testApp,
  testConfig,
} from '../support/webhook-doubles.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

const t = useTestDb();
const PHONE = '+12125550123';
const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

describe('the same app object on Lambda and on node http', () => {
  let app: Hono;
  let server: ReturnType<typeof serve> | undefined;
  beforeEach(() => {
    app = testApp({ db: t.db() });
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('serves a base64-encoded, signed inbound STOP from an API Gateway v2 event, then real HTTP', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const lambda = handle(app);

    const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'STOP'));
    const result = await lambda(
      httpApiEvent('POST', '/twilio/inbound', { body, headers, base64: true }),
      lambdaContext,
    );

    expect(result).toMatchObject({ statusCode: 200, body: EMPTY, isBase64Encoded: false });
    expect((result as { headers: Record<string, string> }).headers['content-type']).toMatch(/^text\/xml/);
    expect(await t.db().selectFrom('subscribers').select('status').executeTakeFirst()).toEqual({
      status: 'opted_out',
    });

    const health = await lambda(httpApiEvent('GET', '/health'), lambdaContext);
    expect(health).toMatchObject({ statusCode: 200 });

    // The same object over a real socket.
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server?.once('listening', () => resolve()));
    const { port } = server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;

    const start = signedForm('/twilio/inbound', inboundParams(PHONE, 'START'));
    const res = await fetch(`${base}/twilio/inbound`, {
      method: 'POST',
      body: start.body,
      headers: start.headers,
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(EMPTY);
    expect(await t.db().selectFrom('subscribers').select('status').executeTakeFirst()).toEqual({
      status: 'active',
    });

    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok', database: 'reachable' });
    const api = await fetch(`${base}/api/subscribers/${encodeURIComponent(PHONE)}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(await api.json()).toMatchObject({ phone: PHONE, status: 'active' });
    const forged = await fetch(`${base}/twilio/status`, {
      method: 'POST',
      body: 'MessageSid=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'nope' },
    });
    expect(forged.status).toBe(403);
  });

  it('a base64 body whose decoded form was signed, but sent with a forged signature → 403 over Lambda', async () => {
    const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'STOP'), {
      signature: 'Zm9yZ2Vk',
    });
    const result = await handle(app)(
      httpApiEvent('POST', '/twilio/inbound', { body, headers, base64: true }),
      lambdaContext,
    );
    expect(result).toMatchObject({ statusCode: 403 });
    expect(await rowCounts(t.db())).toMatchObject({ subscribers: 0, inbound_messages: 0 });
  });
});

describe('the Lambda handler', () => {
  it('builds its deps once per cold start from the environment and serves events', async () => {
    let wired = 0;
    const scheduler = new RecordingScheduler();
    const handler = createWebhooksHandler(
      () => {
        wired++;
        return { sms: new RecordingSms(), scheduler };
      },
      {
        DATABASE_URL: t.url(),
        PUBLIC_BASE_URL,
        ...WEBHOOKS_ENV,
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        API_TOKEN,
        DEFAULT_TIMEZONE: 'America/Chicago',
      },
    );
    const first = signedForm('/twilio/inbound', inboundParams(PHONE, 'hello'));
    const a = await handler(
      httpApiEvent('POST', '/twilio/inbound', { ...first, base64: true }),
      lambdaContext,
    );
    const b = await handler(httpApiEvent('GET', '/health'), lambdaContext);
    expect(a).toMatchObject({ statusCode: 200, body: EMPTY });
    expect(b).toMatchObject({ statusCode: 200 });
    expect(wired).toBe(1);
    expect(await t.db().selectFrom('inbound_messages').select('body').execute()).toEqual([{ body: 'hello' }]);
  });

  it('applies spooled webhooks that SQS delivers back, and reports the ones to deliver again', async () => {
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const handler = createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      {
        DATABASE_URL: t.url(),
        PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID: `AC${'1234'.repeat(8)}`,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        API_TOKEN,
        ...WEBHOOKS_ENV,
      },
    );
    const stop = {
      type: 'inbound',
      messageSid: newSid(),
      from: PHONE,
      to: '+14155550100',
      body: 'STOP',
      optOutType: null,
      receivedAt: '2026-12-01T10:00:00.000Z',
    };
    const record = (messageId: string, body: string) => ({ messageId, body, eventSource: 'aws:sqs' });
    const event = {
      Records: [record('not-a-webhook', '{"type":"inbound"}'), record('stop', JSON.stringify(stop))],
    };

    const result = await (handler as unknown as (e: unknown, c: unknown) => Promise<unknown>)(
      event,
      lambdaContext,
    );

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'not-a-webhook' }] });
    expect(
      await t.db().selectFrom('subscribers').select(['status', 'opted_out_at']).executeTakeFirst(),
    ).toEqual({
      status: 'opted_out',
      opted_out_at: new Date('2026-12-01T10:00:00.000Z'),
    });
  });

  it('a STOP stuck behind a row lock is kept and answered 503 well before the Lambda is stopped', async () => {
    // Prepare: another session holds the subscriber's row (an operator remove, the sender) for longer than
    // the Lambda may run; the handler is built as in AWS, with its own pool and timeouts.
    const { subscriber } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    const kept: KeptWebhook[] = [];
    const handler = createWebhooksHandler(
      () => ({
        sms: new RecordingSms(),
        scheduler: new RecordingScheduler(),
        spool: { keep: async (webhook) => void kept.push(webhook) },
      }),
      {
        DATABASE_URL: t.url(),
        PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        API_TOKEN,
        ...WEBHOOKS_ENV,
      },
    );
    const holder = new pg.Client({ connectionString: t.url() });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM subscribers WHERE id = $1 FOR UPDATE', [subscriber.id]);
      const stop = signedForm('/twilio/inbound', inboundParams(PHONE, 'STOP'));

      // Act
      const started = Date.now();
      const answer = await handler(httpApiEvent('POST', '/twilio/inbound', stop), lambdaContext);
      const tookMs = Date.now() - started;

      // Assess: kept and answered inside the budget the webhooks Lambda leaves its database work.
      expect(answer).toMatchObject({ statusCode: 503 });
      expect(kept.map((w) => w.type === 'inbound' && w.body)).toEqual(['STOP']);
      expect(tookMs).toBeLessThan(WEBHOOK_DB_BUDGET.twilioWaitMs - WEBHOOK_DB_BUDGET.keepMs);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  }, 30_000);

  it('refuses to start without the settings it needs, naming them', async () => {
    const handler = createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      {
        DATABASE_URL: t.url(),
      },
    );
    await expect(handler(httpApiEvent('GET', '/health'), lambdaContext)).rejects.toThrow(
      /PUBLIC_BASE_URL[\s\S]*TWILIO_AUTH_TOKEN[\s\S]*API_TOKEN/,
    );
  });
});

describe('database unavailable → 503', () => {
  it('answers 503 on health, Twilio routes (TwiML) and the API (JSON)', async () => {
    const down = createDb({ connectionString: 'postgres://postgres@127.0.0.1:1/nowhere', max: 1 });
    const app = testApp({
      db: down,
      // No in-request retries: nothing will listen on port 1 in the next five seconds either.
      retry: { budgetMs: 0 },
    });
    try {
      const health = await app.request('/health');
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'unavailable', database: 'unreachable' });

      const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'STOP'));
      const inbound = await app.request('/twilio/inbound', { method: 'POST', body, headers });
      expect(inbound.status).toBe(503);
      expect(await inbound.text()).toBe(EMPTY);

      const api = await app.request(`/api/subscribers/${encodeURIComponent(PHONE)}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      expect(api.status).toBe(503);
      expect(await api.json()).toEqual({
        error: 'the database is unavailable; try again shortly',
        code: 'unavailable',
      });
    } finally {
      await down.destroy();
    }
  });
});

describe('rate limiting on Twilio routes', () => {
  // The Twilio routes count inside their own SQL statement (stored texts per sender, stored statuses per
  // MessageSid, over the last minute); the API keeps the RateLimiter port (per token).
  let limiter: CountingLimiter;
  let metrics: InMemoryMetricsSink;
  let app: Hono;
  beforeEach(() => {
    limiter = new CountingLimiter(2, 30_000);
    metrics = new InMemoryMetricsSink();
    app = testApp({
      config: testConfig({ RATE_LIMIT_INBOUND_PER_MIN: '2', RATE_LIMIT_STATUS_PER_MIN: '2' }),
      db: t.db(),
      limiter,
      metrics,
    });
  });
  const post = (route: string, params: Record<string, string>) => {
    const { body, headers } = signedForm(route, params);
    return app.request(route, { method: 'POST', body, headers });
  };

  it('limits inbound per sender with an empty-TwiML 429, but never an opt-out', async () => {
    expect((await post('/twilio/inbound', inboundParams(PHONE, 'hi'))).status).toBe(200);
    const second = inboundParams(PHONE, 'hi again');
    expect((await post('/twilio/inbound', second)).status).toBe(200);
    const limited = await post('/twilio/inbound', inboundParams(PHONE, 'third'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(55);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await limited.text()).toBe(EMPTY);
    // A replay is a duplicate, not a refusal, and a refused text is not stored.
    expect((await post('/twilio/inbound', second)).status).toBe(200);
    expect(await t.db().selectFrom('inbound_messages').select('body').orderBy('id').execute()).toEqual([
      { body: 'hi' },
      { body: 'hi again' },
    ]);
    expect((await post('/twilio/inbound', inboundParams('+12125550124', 'hi'))).status).toBe(200);
    expect((await post('/twilio/inbound', inboundParams(PHONE, 'please stop texting me'))).status).toBe(200);
    expect(
      await t.db().selectFrom('subscribers').select('status').where('phone', '=', PHONE).executeTakeFirst(),
    ).toEqual({
      status: 'opted_out',
    });
    expect(metrics.total('RateLimitHits', { budget: 'inbound' })).toBe(1);
  });

  it('limits statuses Twilio does not document per MessageSid; a documented one is never refused', async () => {
    const sid = newSid();
    expect((await post('/twilio/status', statusParams(sid, 'sending'))).status).toBe(204);
    expect((await post('/twilio/status', statusParams(sid, 'made_up_one'))).status).toBe(204);
    expect((await post('/twilio/status', statusParams(sid, 'made_up_one'))).status).toBe(204); // a replay
    const limited = await post('/twilio/status', statusParams(sid, 'made_up_two'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(55);
    // Stored at most once per message whatever came before, so never refused.
    expect((await post('/twilio/status', statusParams(sid, 'delivered'))).status).toBe(204);
    expect((await post('/twilio/status', statusParams(newSid(), 'made_up_two'))).status).toBe(204);
    const stored = await t
      .db()
      .selectFrom('delivery_status_events')
      .select('status')
      .where('message_sid', '=', sid)
      .orderBy('id')
      .execute();
    expect(stored.map((r) => r.status)).toEqual(['sending', 'made_up_one', 'delivered']);
    expect(metrics.total('RateLimitHits', { budget: 'status' })).toBe(1);
  });

  it('never limits /health', async () => {
    for (let i = 0; i < 5; i++) expect((await app.request('/health')).status).toBe(200);
    expect(limiter.counts.size).toBe(0);
  });

  it('lets requests through when the limiter itself fails', async () => {
    limiter.throwing = true;
    expect((await post('/twilio/inbound', inboundParams(PHONE, 'hi'))).status).toBe(200);
    expect((await post('/twilio/status', statusParams(newSid(), 'sent'))).status).toBe(204);
    const api = await app.request('/api/subscribers/%2B12125550199', {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(api.status).toBe(404);
  });

  it('does not count requests that fail the signature check', async () => {
    const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'hi'), {
      signature: 'Zm9yZ2Vk',
    });
    for (let i = 0; i < 3; i++) await app.request('/twilio/inbound', { method: 'POST', body, headers });
    expect((await post('/twilio/inbound', inboundParams(PHONE, 'one'))).status).toBe(200);
    expect((await post('/twilio/inbound', inboundParams(PHONE, 'two'))).status).toBe(200);
  });
});
