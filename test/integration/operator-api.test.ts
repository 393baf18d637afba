// The operator API against a real Postgres: subscribers (list, filters, paging, detail), deliveries of a
// date, usage, capacity and the test send, each answer validated by openapi-backend against the OpenAPI
// document the app serves at /api/openapi.json; bearer auth and the per-token budget on every route; full
// phone numbers in answers and never in logs.
import fc from 'fast-check';
import type { Hono } from 'hono';
import { type Document, OpenAPIBackend } from 'openapi-backend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { loadCapacitySettings } from '../../lib/stack-settings.js';
import { capacityReport } from '../../src/domain/capacity.js';
import { createApp } from '../../src/http/app.js';
import { logger } from '../../src/logger.js';
import type { SendStarter } from '../../src/services/ports.js';
import { setMessageStatus, useTestDb } from '../support/db.js';
import {
  API_TOKEN,
  CountingLimiter,
  RecordingScheduler,
  RecordingSms,
  seedSubscriber,
  testConfig,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const AUTH = { authorization: `Bearer ${API_TOKEN}` };
const CAPACITY = { stage: 'dev', settings: loadCapacitySettings({ stage: 'dev' }) };
const FORMATS = { 'date-time': z.iso.datetime(), date: z.iso.date(), uuid: z.uuid() };

class RecordingStarter implements SendStarter {
  readonly started: { deliveryId: string; windowEnd: Date }[] = [];
  failWith: Error | null = null;
  async start(request: { deliveryId: string; windowEnd: Date }) {
    if (this.failWith) throw this.failWith;
    this.started.push(request);
  }
}

let app: Hono;
let scheduler: RecordingScheduler;
let starter: RecordingStarter;
let limiter: CountingLimiter | undefined;
let spec: OpenAPIBackend;

function build(options: { limiter?: CountingLimiter; capacity?: typeof CAPACITY | null } = {}) {
  scheduler = new RecordingScheduler();
  starter = new RecordingStarter();
  limiter = options.limiter;
  app = createApp({
    config: testConfig(),
    db: t.db(),
    sms: new RecordingSms(),
    scheduler,
    starter,
    limiter,
    capacity: options.capacity === null ? undefined : (options.capacity ?? CAPACITY),
  });
}

beforeEach(async () => {
  build();
  if (spec) return;
  const served = await app.request('/api/openapi.json');
  expect(served.status).toBe(200);
  // strict: an invalid OpenAPI 3 document (per the OpenAPI 3.0 JSON schema) throws here.
  spec = new OpenAPIBackend({
    definition: (await served.json()) as Document,
    strict: true,
    quick: false,
    // The formats the document uses are checked too, not ignored with a warning.
    customizeAjv: (ajv) => {
      for (const [name, schema] of Object.entries(FORMATS))
        ajv.addFormat(name, { type: 'string', validate: (v: string) => schema.safeParse(v).success });
      return ajv;
    },
  });
  await spec.init();
});

/** One request; its answer is checked against the operation the document describes for it. */
async function call(
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers = {
    ...AUTH,
    ...options.headers,
    ...(options.body ? { 'content-type': 'application/json' } : {}),
  };
  const res = await app.request(path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = (await res.json()) as Record<string, unknown>;
  const url = new URL(path, 'http://x');
  const operation = spec.matchOperation({
    method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
  });
  expect(operation, `${method} ${url.pathname} is described`).toBeDefined();
  if (operation) {
    const checked = spec.validateResponse(body, operation, res.status);
    expect(checked.errors ?? [], `${method} ${path} → ${res.status} matches the document`).toEqual([]);
  }
  return { status: res.status, body, headers: res.headers };
}

const phonePath = (phone: string) => `/api/subscribers/${encodeURIComponent(phone)}`;

/** A delivery; `delivery_status` in `extra` becomes its message's latest status (message_statuses). */
async function seedDelivery(
  phone: string,
  localDate: string,
  { delivery_status, ...extra }: Record<string, unknown> = {},
) {
  const s = await t
    .db()
    .selectFrom('subscribers')
    .select('id')
    .where('phone', '=', phone)
    .executeTakeFirstOrThrow();
  const row = await t
    .db()
    .insertInto('deliveries')
    .values({
      subscriber_id: s.id,
      local_date: localDate,
      time_zone: 'America/New_York',
      window_start: `${localDate}T17:00:00Z`,
      window_end: `${localDate}T22:00:00Z`,
      planned_at: `${localDate}T18:30:00Z`,
      ...extra,
    })
    .returning(['id', 'message_sid'])
    .executeTakeFirstOrThrow();
  if (typeof delivery_status === 'string' && row.message_sid) {
    await setMessageStatus(t.db(), row.message_sid, delivery_status);
  }
  return row;
}

describe('the OpenAPI description', () => {
  it('is served without a token and validates as OpenAPI 3, describing every /api operation', async () => {
    const doc = spec.definition as Document & { paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/capacity',
      '/api/deliveries',
      '/api/deliveries/{id}',
      '/api/openapi.json',
      '/api/subscribers',
      '/api/subscribers/{phone}',
      '/api/subscribers/{phone}/send-now',
      '/api/usage',
    ]);
    expect(doc.components?.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
  });
});

describe('GET /api/subscribers', () => {
  it('lists in the order added, filters by status, paused and zone, and pages with `next`', async () => {
    for (const [i, status] of (['active', 'pending', 'active', 'opted_out', 'active'] as const).entries())
      await seedSubscriber(t.db(), { phone: `+1212555010${i}`, status });
    await t
      .db()
      .updateTable('subscribers')
      .set({ paused: true })
      .where('phone', '=', '+12125550102')
      .execute();

    const all = await call('GET', '/api/subscribers');
    expect(all.status).toBe(200);
    expect((all.body.subscribers as { phone: string }[]).map((s) => s.phone)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `+1212555010${i}`),
    );
    expect(all.body.next).toBeNull();

    const active = await call('GET', '/api/subscribers?status=active&paused=false&limit=1');
    expect((active.body.subscribers as { phone: string }[]).map((s) => s.phone)).toEqual(['+12125550100']);
    const next = active.body.next as string;
    expect(next).toMatch(/^\d+$/);
    const page2 = await call('GET', `/api/subscribers?status=active&paused=false&limit=1&after=${next}`);
    expect((page2.body.subscribers as { phone: string }[]).map((s) => s.phone)).toEqual(['+12125550104']);
    expect(page2.body.next).toBeNull();

    const paused = await call('GET', '/api/subscribers?paused=true');
    expect((paused.body.subscribers as { phone: string }[]).map((s) => s.phone)).toEqual(['+12125550102']);
    const zone = await call('GET', '/api/subscribers?timeZone=america/new_york&status=pending');
    expect((zone.body.subscribers as { phone: string }[]).map((s) => s.phone)).toEqual(['+12125550101']);
  });

  it.each([
    ['status=gone', /status/],
    ['limit=0', /limit: must be a whole number from 1 to 1000/],
    ['paused=yes', /paused/],
    ['timeZone=Mars/Olympus', /timeZone: must be an IANA time zone/],
    ['after=abc', /not a page cursor/],
    ['colour=blue', /unknown field\(s\): colour/],
  ])('?%s → 400 saying what is wrong', async (query, message) => {
    const res = await call('GET', `/api/subscribers?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
  });

  // subscribers.id is a Postgres integer: a cursor above 2^31−1 reached the database and came back a 500.
  it('?after= any whole number: a page up to 2147483647, above it 400 bad_input, never a 500', async () => {
    await seedSubscriber(t.db(), { phone: '+12125550100' });
    const MAX = 2n ** 31n - 1n;
    const cursor = fc.oneof(
      fc.bigInt({ min: 1n, max: MAX }),
      fc.bigInt({ min: MAX + 1n, max: 10n ** 30n }),
      fc.constantFrom(MAX, MAX + 1n, 9_999_999_999_999_999n),
    );
    await fc.assert(
      fc.asyncProperty(cursor, async (after) => {
        const res = await call('GET', `/api/subscribers?after=${after}`);
        if (after <= MAX) {
          expect(res.status).toBe(200);
          expect(res.body.next).toBeNull();
        } else {
          expect(res.status).toBe(400);
          expect(res.body).toEqual({ error: `not a page cursor: "${after}"`, code: 'bad_input' });
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('GET /api/subscribers/:phone', () => {
  it('returns the subscriber with the full phone and their latest deliveries; bodies only when asked', async () => {
    const { subscriber } = await seedSubscriber(t.db(), { phone: '+12125550123', name: 'Ana' });
    await seedDelivery(subscriber.phone, '2026-11-24', {
      state: 'sent',
      claimed_at: '2026-11-24T18:30:00Z',
      sent_at: '2026-11-24T18:30:01Z',
      message_sid: `SM${'a'.repeat(32)}`,
      body: 'You matter.',
      delivery_status: 'delivered',
    });
    await seedDelivery(subscriber.phone, '2026-11-25', {
      state: 'skipped',
      reason: 'quota',
      planned_at: null,
    });

    const plain = await call('GET', phonePath('+12125550123'));
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ phone: '+12125550123', name: 'Ana', status: 'active' });
    const deliveries = plain.body.deliveries as Record<string, unknown>[];
    expect(deliveries.map((d) => [d.localDate, d.state, d.reason])).toEqual([
      ['2026-11-25', 'skipped', 'quota'],
      ['2026-11-24', 'sent', null],
    ]);
    expect(deliveries[1]).not.toHaveProperty('body');

    const withBodies = await call('GET', `${phonePath('+12125550123')}?bodies=true`);
    expect((withBodies.body.deliveries as Record<string, unknown>[])[1]?.body).toBe('You matter.');
    expect((await call('GET', phonePath('+12125550199'))).body).toEqual({
      error: 'no subscriber has this phone number',
      code: 'not_found',
    });
  });
});

describe('GET /api/deliveries', () => {
  it("lists a date's deliveries with state, reason, planned time and delivery status", async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' });
    await seedSubscriber(t.db(), { phone: '+12125550124' });
    const sent = await seedDelivery('+12125550123', '2026-11-24', {
      state: 'sent',
      claimed_at: '2026-11-24T18:30:00Z',
      sent_at: '2026-11-24T18:30:01Z',
      message_sid: `SM${'b'.repeat(32)}`,
      body: 'A kind word.',
      delivery_status: 'undelivered',
      error_code: 30007,
      replacement_reasons: ['guard:alcohol'],
    });
    await seedDelivery('+12125550124', '2026-11-24', { state: 'cancelled', reason: 'opted_out' });

    const res = await call('GET', '/api/deliveries?date=2026-11-24');
    expect(res.status).toBe(200);
    expect(res.body.date).toBe('2026-11-24');
    expect(res.body.deliveries).toEqual([
      expect.objectContaining({
        phone: '+12125550123',
        state: 'sent',
        plannedAt: '2026-11-24T18:30:00.000Z',
        deliveryStatus: 'undelivered',
        errorCode: 30007,
        replacementReasons: ['guard:alcohol'],
      }),
      expect.objectContaining({ phone: '+12125550124', state: 'cancelled', reason: 'opted_out' }),
    ]);
    expect(JSON.stringify(res.body)).not.toContain('A kind word.');
    const one = await call('GET', `/api/deliveries/${sent.id}?bodies=true`);
    expect(one.body).toMatchObject({ id: sent.id, body: 'A kind word.' });
    expect((await call('GET', '/api/deliveries/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call('GET', '/api/deliveries/not-an-id')).status).toBe(400);
    expect((await call('GET', '/api/deliveries?date=2026-02-30')).body.error).toMatch(/date/);
  });
});

describe('GET /api/usage and /api/capacity', () => {
  it('usage is the daily report of the UTC day asked for', async () => {
    await t
      .db()
      .insertInto('usage_daily')
      .values({ day: '2026-11-24', sms_sent: 3, sms_segments: 3, estimated_cost_usd: 0.0251 })
      .execute();
    const res = await call('GET', '/api/usage?day=2026-11-24');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ day: '2026-11-24', smsSegments: 3, estimatedCostUSD: 0.0251 });
  });

  it("capacity is src/domain/capacity.ts's report of the deployed settings", async () => {
    const res = await call(
      'GET',
      '/api/capacity?subscribers=100000&zones=America/New_York=3,America/Chicago=1',
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stage: 'dev', settings: CAPACITY.settings, subscribers: 100_000 });
    const expected = capacityReport(CAPACITY.settings, 100_000, res.body.zones as never);
    expect(res.body.lines).toEqual(JSON.parse(JSON.stringify(expected.lines)));
    expect((await call('GET', '/api/capacity?zones=Mars/Olympus=1')).body.error).toMatch(
      /zones: not an IANA time zone/,
    );
    for (const zones of ['America/New_York=Infinity', 'America/New_York=1e308,Europe/London=1e308']) {
      const bad = await call('GET', `/api/capacity?zones=${encodeURIComponent(zones)}`);
      expect(bad.status, zones).toBe(400);
      expect(bad.body.error).toMatch(/^zones: (not a positive share|the shares add up)/);
    }
    build({ capacity: null });
    expect((await call('GET', '/api/capacity')).status).toBe(503);
  });
});

describe('dates (?date= of deliveries, ?day= of usage)', () => {
  // Postgres has no year 0: a date the schema accepts must be one Postgres and JS Date both take.
  const inRange = fc
    .date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString().slice(0, 10));
  const edges = fc.constantFrom('0001-01-01', '9999-12-31', '2024-02-29', '1970-01-01', '0004-02-29');

  it('any date the schema accepts is answered 200 for that date', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(inRange, edges), async (date) => {
        const deliveries = await call('GET', `/api/deliveries?date=${date}`);
        expect(deliveries.status, date).toBe(200);
        expect(deliveries.body).toEqual({ date, deliveries: [] });
        const usage = await call('GET', `/api/usage?day=${date}`);
        expect(usage.status, date).toBe(200);
        expect(usage.body).toMatchObject({ day: date, sent: 0 });
      }),
      { numRuns: 40 },
    );
  });

  it.each([['0000-01-01'], ['0000-02-29'], ['0000-12-31'], ['10000-01-01'], ['-0001-01-01'], ['2026-02-30']])(
    '%s → 400 naming the field, never a 500',
    async (date) => {
      const deliveries = await call('GET', `/api/deliveries?date=${date}`);
      expect(deliveries.status).toBe(400);
      expect(deliveries.body.error).toBe(
        'date: must be a calendar date YYYY-MM-DD from 0001-01-01 to 9999-12-31',
      );
      const usage = await call('GET', `/api/usage?day=${date}`);
      expect(usage.status).toBe(400);
      expect(usage.body.error).toBe('day: must be a calendar date YYYY-MM-DD from 0001-01-01 to 9999-12-31');
    },
  );
});

describe('POST /api/subscribers/:phone/send-now', () => {
  it("makes today's delivery due now and hands it to the sender; a second one the same day is refused", async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' });
    const res = await call('POST', `${phonePath('+12125550123')}/send-now`);
    expect(res.status).toBe(202);
    const delivery = res.body.delivery as { id: string; state: string; phone: string };
    expect(delivery).toMatchObject({ state: 'planned', phone: '+12125550123' });
    expect(starter.started).toEqual([{ deliveryId: res.body.deliveryId, windowEnd: expect.any(Date) }]);

    // The sender takes it (as the Lambda would), then a second test send that day is refused.
    await t
      .db()
      .updateTable('deliveries')
      .set({ state: 'sent', claimed_at: new Date(), sent_at: new Date(), message_sid: `SM${'c'.repeat(32)}` })
      .execute();
    const again = await call('POST', `${phonePath('+12125550123')}/send-now`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      code: 'refused',
      error: expect.stringMatching(/one message per subscriber per day/),
    });
    expect(starter.started).toHaveLength(1);
  });

  it('moves a planned delivery to now and cancels its schedule', async () => {
    const { delivery } = await seedSubscriber(t.db(), { phone: '+12125550123' }, {});
    // Today in the subscriber's zone, so send-now finds it.
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(new Date());
    await t.db().updateTable('deliveries').set({ local_date: today }).execute();
    const res = await call('POST', `${phonePath('+12125550123')}/send-now`);
    expect(res.status).toBe(202);
    expect(res.body.deliveryId).toBe(delivery?.id);
    expect(scheduler.cancelled).toEqual([delivery?.id]);
  });

  it.each([
    ['pending', { status: 'pending' as const }, /must text YES first/],
    ['opted out', { status: 'opted_out' as const }, /opted out/],
  ])('refuses a %s subscriber (409) and starts nothing', async (_label, row, message) => {
    await seedSubscriber(t.db(), { phone: '+12125550123', ...row });
    const res = await call('POST', `${phonePath('+12125550123')}/send-now`);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'refused', error: expect.stringMatching(message) });
    expect(starter.started).toEqual([]);
  });

  it('refuses a paused subscriber; 404 for an unknown number', async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' });
    await t.db().updateTable('subscribers').set({ paused: true }).execute();
    expect((await call('POST', `${phonePath('+12125550123')}/send-now`)).body.error).toMatch(/paused/);
    expect((await call('POST', `${phonePath('+12125550199')}/send-now`)).status).toBe(404);
  });

  it('answers 502 when the sender cannot be started; the same send-now then works', async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' });
    starter.failWith = new Error('Lambda throttled');
    const failed = await call('POST', `${phonePath('+12125550123')}/send-now`);
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ code: 'unavailable' });
    starter.failWith = null;
    expect((await call('POST', `${phonePath('+12125550123')}/send-now`)).status).toBe(202);
  });
});

describe('access', () => {
  it.each([
    ['GET', '/api/subscribers'],
    ['GET', '/api/deliveries'],
    ['GET', '/api/deliveries/00000000-0000-4000-8000-000000000000'],
    ['GET', '/api/usage'],
    ['GET', '/api/capacity'],
    ['POST', '/api/subscribers/%2B12125550123/send-now'],
  ])('%s %s needs the bearer token (401)', async (method, path) => {
    const res = await call(method, path, {
      headers: { authorization: 'Bearer wrong-token-0123456789abcdef' },
    });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid API token');
  });

  it('counts every operator route once against the per-token budget (429 with Retry-After after it)', async () => {
    build({ limiter: new CountingLimiter(4) });
    for (const path of ['/api/subscribers', '/api/deliveries', '/api/usage', '/api/capacity'])
      expect((await call('GET', path)).status).toBe(200);
    const limited = await call('GET', '/api/subscribers');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('13');
    expect([...(limiter?.counts.values() ?? [])]).toEqual([4]);
  });
});

describe('phone numbers in logs', () => {
  /** Everything written to stdout and stderr (the logger's JSON lines) while the test runs. */
  const written = () =>
    [process.stdout.write, process.stderr.write]
      .flatMap((w) => vi.mocked(w).mock.calls.map((call) => String(call[0])))
      .join('');
  beforeEach(() => {
    for (const stream of [process.stdout, process.stderr]) vi.spyOn(stream, 'write').mockReturnValue(true);
    logger.setLogLevel('DEBUG');
  });
  afterEach(() => {
    logger.setLogLevel('SILENT');
    vi.restoreAllMocks();
  });

  it('answers carry full numbers; no log line of any operator route does, even when it fails', async () => {
    build({ limiter: new CountingLimiter(7) });
    await seedSubscriber(t.db(), { phone: '+12125550123' });
    const shown = await call('GET', phonePath('+12125550123'));
    expect(shown.body.phone).toBe('+12125550123');
    await call('GET', '/api/subscribers');
    await call('GET', '/api/usage');
    starter.failWith = new Error('could not reach +12125550123');
    await call('POST', `${phonePath('+12125550123')}/send-now`);
    starter.failWith = null;
    await call('POST', `${phonePath('+12125550123')}/send-now`);
    await call('GET', phonePath('+12125550188'));
    // Over budget: the rate limiter's line names the route, not the path that carries the number.
    await call('GET', phonePath('+12125550123'));
    expect((await call('GET', phonePath('+12125550123'))).status).toBe(429);

    const logs = written();
    expect(logs).toMatch(/rate limited/);
    expect(logs).toMatch(/could not start the sender/);
    for (const national of ['2125550123', '2125550188']) expect(logs).not.toContain(national);
    expect(logs).toContain('***0123');
  });
});
