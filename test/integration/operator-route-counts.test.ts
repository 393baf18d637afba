// Each operator API route driven on its longest path through the real app and a real Postgres, counting what
// it really does — statements and checkouts at the pool, the rate limiter's statements, secret reads, texts,
// schedule removals, sender starts — against what OPERATOR_ROUTES and OPERATOR_PRELUDE declare
// (src/domain/call-budgets.ts). test/infra/call-budgets.test.ts sums those declarations against the webhooks
// Lambda's timeout; this keeps them true: a route that gains a statement or a call fails here, and so does a
// declaration left larger than the route, or an /api route the app serves without one.
import type { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { Hono } from 'hono';
import { DateTime } from 'luxon';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCapacitySettings } from '../../lib/stack-settings.js';
import { createRateLimiter, type StoreRateLimiter } from '../../src/adapters/rate-limiter.js';
import { secretsManagerCredentials } from '../../src/adapters/secrets.js';
import { sendWindow } from '../../src/config.js';
import { createPool, type Db, dbOnPool } from '../../src/db/connection.js';
import {
  DB_BOUNDS,
  MAX_PLANNED_PER_SUBSCRIBER,
  OPERATOR_PRELUDE,
  OPERATOR_ROUTES,
  type OperatorRouteName,
  SCHEDULER_CONCURRENCY,
} from '../../src/domain/call-budgets.js';
import { DB_POOL_SIZE } from '../../src/domain/database-pools.js';
import { localDateAt, sendWindowOn } from '../../src/domain/send-window.js';
import { createApp } from '../../src/http/app.js';
import { type OutboundSms, type SendStarter, SmsError, type SmsReceipt } from '../../src/services/ports.js';
import { useTestDb } from '../support/db.js';
import { API_TOKEN, RecordingScheduler, RecordingSms, testConfig } from '../support/webhook-doubles.js';

const t = useTestDb();
const ZONE = 'America/New_York';
const WINDOW = sendWindow(testConfig());
/** The API token the operator sends: the secret was rotated to it, the Lambda's cache still holds the old one. */
const ROTATED_TOKEN = 'rotated-api-token-9876543210zyxwvuts';
const LIMITER_TABLE = /\brate_limits\b/;

/** What one request did, in the order it did it. */
class Meter {
  /** SQL of every statement on the pool, the limiter's included. */
  readonly statements: string[] = [];
  checkouts = 0;
  opens = 0;
  /** The outside calls, one after another; a parallel wave of schedule removals is one entry per SCHEDULER_CONCURRENCY. */
  readonly calls: string[] = [];
  cancels = 0;
  private removing = 0;
  private wave = 0;

  text(): void {
    this.calls.push('optInText');
  }
  sendStart(): void {
    this.calls.push('sendStart');
  }
  /** A removal started while none is in flight begins a wave; the removals of one wave run in parallel. */
  async cancel(): Promise<void> {
    this.cancels++;
    if (this.removing === 0) this.wave = 0;
    if (this.wave % SCHEDULER_CONCURRENCY === 0) this.calls.push('scheduleRemoval');
    this.wave++;
    this.removing++;
    await new Promise((resolve) => setImmediate(resolve));
    this.removing--;
  }
}

/** Secrets Manager behind Powertools' cache: a read when the cache has expired or is bypassed (a refresh). */
class CountingSecret {
  reads = 0;
  private cached: string | undefined;
  constructor(public stored: string) {}
  /** The cache as a request finds it: holding what was read before (or expired), and nothing read yet. */
  beforeRequest(cache: 'fresh' | 'expired'): void {
    if (cache === 'expired') this.cached = undefined;
    this.reads = 0;
  }
  async get(_arn: string, options: { forceFetch?: boolean }): Promise<string> {
    if (options.forceFetch || this.cached === undefined) {
      this.reads++;
      this.cached = this.stored;
    }
    return this.cached;
  }
}

const credentialsOf = <K extends 'api' | 'db'>(kind: K, secret: CountingSecret) =>
  secretsManagerCredentials(secret as unknown as SecretsProvider, kind, `arn:${kind}`, {
    maxAgeSeconds: 300,
    minForcedRefreshMs: 0,
  });

/** A pool as the webhooks Lambda builds it (size, bounds, password from its secret) that counts what it runs. */
function countingPool(url: string, secret: CountingSecret, meter: () => Meter): pg.Pool {
  const bounds = DB_BOUNDS.webhooks;
  const pool = createPool({
    connectionString: url,
    credentials: credentialsOf('db', secret),
    max: DB_POOL_SIZE.webhooks,
    statementTimeoutMs: bounds.statementMs,
    queryTimeoutMs: bounds.queryMs,
    lockTimeoutMs: bounds.lockMs,
    connectTimeoutMs: bounds.connectMs,
  });
  pool.on('acquire', () => meter().checkouts++);
  pool.on('connect', (client) => {
    meter().opens++;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const [q] = args;
      meter().statements.push(typeof q === 'string' ? q : ((q as { text?: string }).text ?? String(q)));
      return query(...args);
    }) as typeof client.query;
  });
  return pool;
}

/**
 * The secret of an RDS instance at the test database (the pool takes its password from it): the URL's own
 * password (the embedded server checks it), or any for a server that trusts local connections.
 */
function rdsSecret(url: string): string {
  const u = new URL(url);
  return JSON.stringify({
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password) || 'unused-by-trust-auth',
    host: u.hostname,
    port: Number(u.port || 5432),
    dbname: u.pathname.slice(1),
  });
}

// ── Seeds ─────────────────────────────────────────────────────────────────────────────────────────────

const PHONE = '+12125550123';
const phonePath = (phone = PHONE) => `/api/subscribers/${encodeURIComponent(phone)}`;

async function subscriber(db: Db, phone = PHONE, zone = ZONE): Promise<number> {
  const row = await db
    .insertInto('subscribers')
    .values({ phone, status: 'active', time_zone: zone, name: 'Ada', confirmed_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * The most planned deliveries a subscriber can have (MAX_PLANNED_PER_SUBSCRIBER, from tomorrow on), planned
 * `minutesIn(i)` after their window opens; and one sent today, with its text and a replaced draft.
 */
async function plannedDays(db: Db, subscriberId: number, minutesIn: (i: number) => number = () => 180) {
  const today = DateTime.now().setZone(ZONE).startOf('day');
  const rows = Array.from({ length: MAX_PLANNED_PER_SUBSCRIBER }, (_, i) => {
    const localDate = today.plus({ days: i + 1 }).toISODate() as string;
    const window = sendWindowOn(ZONE, localDate, WINDOW);
    return {
      subscriber_id: subscriberId,
      local_date: localDate,
      time_zone: ZONE,
      window_start: window.start,
      window_end: window.end,
      planned_at: new Date(window.start.getTime() + minutesIn(i) * 60_000),
      state: 'planned' as const,
    };
  });
  const planned = await db.insertInto('deliveries').values(rows).returning('id').execute();
  const todayDate = today.toISODate() as string;
  const window = sendWindowOn(ZONE, todayDate, WINDOW);
  const sent = await db
    .insertInto('deliveries')
    .values({
      subscriber_id: subscriberId,
      local_date: todayDate,
      time_zone: ZONE,
      window_start: window.start,
      window_end: window.end,
      planned_at: window.start,
      state: 'sent',
      claimed_at: new Date(),
      sent_at: new Date(),
      message_sid: `SM${'ab'.repeat(16)}`,
      body: 'Good morning, Ada!',
      replacement_reasons: ['guard:medical'],
    })
    .returning(['id', 'local_date'])
    .executeTakeFirstOrThrow();
  return { planned: planned.map((r) => r.id), sent };
}

interface Request {
  method: string;
  path: string;
  body?: unknown;
}

interface Scenario {
  /** Why this is the route's longest path. */
  why: string;
  prepare(db: Db): Promise<Request>;
  status: number;
  /** Proof the request took that path (it did the work the path does). */
  took?(db: Db, meter: Meter): Promise<void>;
}

/** Typed by the declared routes: a declaration without a scenario fails the typecheck. */
const SCENARIOS: Record<OperatorRouteName, Scenario> = {
  'GET /api/subscribers': {
    why: 'the largest page, after a cursor, with every filter',
    async prepare(db) {
      for (const phone of ['+12125550101', '+12125550102', '+12125550103']) await subscriber(db, phone);
      return {
        method: 'GET',
        path: `/api/subscribers?limit=1000&after=1&status=active&paused=false&timeZone=${ZONE}`,
      };
    },
    status: 200,
  },
  'POST /api/subscribers': {
    why: 'a new number: saved and committed, the double opt-in text refused by Twilio, the sign-up undone',
    prepare: async () => {
      sms.failWith = new SmsError('Invalid To number', 21211, false);
      return {
        method: 'POST',
        path: '/api/subscribers',
        body: { phone: PHONE, name: 'Ada', timeZone: ZONE },
      };
    },
    status: 422,
    async took(db) {
      expect(await db.selectFrom('subscribers').select('id').execute()).toEqual([]);
      expect(await db.selectFrom('consent_events').select('id').execute()).toEqual([]);
    },
  },
  'GET /api/subscribers/:phone': {
    why: 'a subscriber with deliveries, their texts included',
    async prepare(db) {
      await plannedDays(db, await subscriber(db));
      return { method: 'GET', path: `${phonePath()}?bodies=true` };
    },
    status: 200,
  },
  'PATCH /api/subscribers/:phone': {
    why: 'a zone change over the most planned deliveries, keeping some and cancelling the others',
    async prepare(db) {
      // New York → Chicago moves the window an hour later: those planned in its first hour are cancelled.
      await plannedDays(db, await subscriber(db), (i) => (i % 2 === 0 ? 30 : 180));
      return { method: 'PATCH', path: phonePath(), body: { timeZone: 'America/Chicago', name: 'Bea' } };
    },
    status: 200,
    async took(db, meter) {
      const planned = await db
        .selectFrom('deliveries')
        .select(['state', 'time_zone'])
        .where('state', 'in', ['planned', 'cancelled'])
        .execute();
      const half = MAX_PLANNED_PER_SUBSCRIBER / 2;
      expect(planned.filter((d) => d.state === 'planned' && d.time_zone === 'America/Chicago')).toHaveLength(
        half,
      );
      expect(planned.filter((d) => d.state === 'cancelled')).toHaveLength(half);
      expect(meter.cancels).toBe(half);
    },
  },
  'DELETE /api/subscribers/:phone': {
    why: 'a subscriber with the most planned deliveries and a sent text to erase',
    async prepare(db) {
      await plannedDays(db, await subscriber(db));
      return { method: 'DELETE', path: phonePath() };
    },
    status: 200,
    async took(db, meter) {
      expect(meter.cancels).toBe(MAX_PLANNED_PER_SUBSCRIBER);
      const bodies = await db.selectFrom('deliveries').select('body').where('body', 'is not', null).execute();
      expect(bodies).toEqual([]);
    },
  },
  'POST /api/subscribers/:phone/send-now': {
    why: "today's delivery planned: moved to now, its schedule removed, the sender invoked",
    async prepare(db) {
      const id = await subscriber(db);
      const today = localDateAt(ZONE, new Date());
      const window = sendWindowOn(ZONE, today, WINDOW);
      await db
        .insertInto('deliveries')
        .values({
          subscriber_id: id,
          local_date: today,
          time_zone: ZONE,
          window_start: window.start,
          window_end: window.end,
          planned_at: new Date(window.start.getTime() + 3 * 3_600_000),
          state: 'planned',
        })
        .execute();
      return { method: 'POST', path: `${phonePath()}/send-now` };
    },
    status: 202,
    async took(_db, meter) {
      expect(meter.cancels).toBe(1);
    },
  },
  'GET /api/deliveries': {
    why: 'a date with deliveries, their texts included',
    async prepare(db) {
      const { sent } = await plannedDays(db, await subscriber(db));
      return { method: 'GET', path: `/api/deliveries?date=${sent.local_date}&bodies=true` };
    },
    status: 200,
  },
  'GET /api/deliveries/:id': {
    why: 'a sent delivery, its text included',
    async prepare(db) {
      const { sent } = await plannedDays(db, await subscriber(db));
      return { method: 'GET', path: `/api/deliveries/${sent.id}?bodies=true` };
    },
    status: 200,
  },
  'GET /api/usage': {
    why: 'the report of a day (the only range the API takes) with sends and replaced drafts',
    async prepare(db) {
      await plannedDays(db, await subscriber(db));
      return { method: 'GET', path: `/api/usage?day=${new Date().toISOString().slice(0, 10)}` };
    },
    status: 200,
  },
  'GET /api/capacity': {
    why: 'the largest subscriber count over a zone mix',
    prepare: async () => ({
      method: 'GET',
      path: `/api/capacity?subscribers=100000000&zones=${encodeURIComponent(
        'America/New_York=60,America/Los_Angeles=40',
      )}`,
    }),
    status: 200,
  },
};

/**
 * /api routes with no prelude and no declaration: served before the guard, they touch neither the pool nor
 * an outside system (checked below), so they have no worst case to declare.
 */
const UNGUARDED = new Set(['GET /api/openapi.json']);

// ── The app, as the webhooks Lambda wires it, on counting doubles ─────────────────────────────────────

let meter: Meter;
let pool: pg.Pool;
let limiter: StoreRateLimiter;
let apiSecret: CountingSecret;
let dbSecret: CountingSecret;
let app: Hono;
let sms: CountingSms;

/** Counts every text asked for, refused ones (failWith) included. */
class CountingSms extends RecordingSms {
  override async send(message: OutboundSms): Promise<SmsReceipt> {
    meter.text();
    return super.send(message);
  }
}

class CountingScheduler extends RecordingScheduler {
  override async cancel(deliveryId: string): Promise<void> {
    await meter.cancel();
    return super.cancel(deliveryId);
  }
}

const countingStarter: SendStarter = {
  async start() {
    meter.sendStart();
  },
};

beforeEach(async () => {
  meter = new Meter();
  sms = new CountingSms();
  apiSecret = new CountingSecret(JSON.stringify({ API_TOKEN }));
  dbSecret = new CountingSecret(rdsSecret(t.url()));
  pool = countingPool(t.url(), dbSecret, () => meter);
  const config = testConfig({ RATE_LIMIT_STORE: 'postgres' });
  limiter = await createRateLimiter({ config, pool, keyPrefix: 'route-counts' });
  app = createApp({
    config: { ...config, credentials: { ...config.credentials, api: credentialsOf('api', apiSecret) } },
    db: dbOnPool(pool),
    sms,
    scheduler: new CountingScheduler(),
    limiter,
    starter: countingStarter,
    capacity: { stage: 'dev', settings: loadCapacitySettings({ stage: 'dev' }) },
  });
  // The Lambda has answered an operator before (the token is cached), then the token was rotated.
  await apiSecret.get('arn:api', {});
  apiSecret.stored = JSON.stringify({ API_TOKEN: ROTATED_TOKEN });
});

afterEach(async () => {
  await limiter.close();
  await pool.end();
});

async function send(request: Request, token = ROTATED_TOKEN, env?: object): Promise<Response> {
  return app.request(
    request.path,
    {
      method: request.method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    },
    env,
  );
}

/** "METHOD /path" of every route the app serves under /api (middleware and 405 handlers are method ALL). */
function servedApiRoutes(): string[] {
  const served = app.routes
    .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'))
    .map((r) => `${r.method} ${r.path}`);
  return [...new Set(served)].sort();
}

const sorted = (list: readonly string[]) => [...list].sort();

/** What the route was seen to do, as the report prints it. */
const seen: Record<string, string> = {};

describe('each operator API route, on its longest path, does what OPERATOR_ROUTES declares', () => {
  it('every /api route the app serves is declared (or needs no declaration), and every declared one is served', () => {
    const declared = Object.keys(OPERATOR_ROUTES);
    expect(servedApiRoutes()).toEqual(sorted([...declared, ...UNGUARDED]));
  });

  it.each(Object.keys(OPERATOR_ROUTES) as OperatorRouteName[])('%s', async (route) => {
    // Prepare: the data of the route's longest path; a cold pool (as after a cold start), the password's
    // cache expired, and the operator's token rotated since the Lambda cached the old one.
    const scenario = SCENARIOS[route];
    const request = await scenario.prepare(t.db());
    apiSecret.beforeRequest('fresh');
    dbSecret.beforeRequest('expired');
    const declared = OPERATOR_ROUTES[route];

    // Act
    const res = await send(request);

    // Assess: it answered as the path does, and did no more than declared — and no less, so the
    // declaration cannot go stale on the safe side either.
    expect(res.status, await res.clone().text()).toBe(scenario.status);
    await scenario.took?.(t.db(), meter);
    const limiterStatements = meter.statements.filter((s) => LIMITER_TABLE.test(s));
    const statements = meter.statements.filter((s) => !LIMITER_TABLE.test(s));
    const secretReads = apiSecret.reads + dbSecret.reads;
    seen[route] =
      `statements ${statements.length}/${declared.statements}, calls [${sorted(meter.calls)}]/[${sorted(declared.calls)}], ` +
      `checkouts ${meter.checkouts}, opens ${meter.opens}, cancels ${meter.cancels}, limiter ${limiterStatements.length}, ` +
      `secret reads ${apiSecret.reads}+${dbSecret.reads}`;

    expect(statements.length, statements.join('\n')).toBeLessThanOrEqual(declared.statements);
    expect(statements.length, statements.join('\n')).toBe(declared.statements);
    expect(sorted(meter.calls)).toEqual(sorted(declared.calls));
    expect(meter.cancels).toBeLessThanOrEqual(MAX_PLANNED_PER_SUBSCRIBER);
    // Each checkout runs a statement: the gate charges at most one connection opening per checkout.
    expect(meter.checkouts).toBeLessThanOrEqual(meter.statements.length);
    expect(limiterStatements).toHaveLength(OPERATOR_PRELUDE.limiterStatements);
    expect(meter.opens).toBeLessThanOrEqual(OPERATOR_PRELUDE.connectionOpens);
    expect(secretReads).toBeLessThanOrEqual(OPERATOR_PRELUDE.secretReads);
  });

  // Each route hands its deadline to what it uses (src/http/api-deadline.ts): one that used the database or
  // an outside call without it would run to the Lambda's timeout.
  it.each(
    (Object.keys(OPERATOR_ROUTES) as OperatorRouteName[]).filter(
      (route) => OPERATOR_ROUTES[route].statements > 0 || OPERATOR_ROUTES[route].calls.length > 0,
    ),
  )('%s starts none of its statements or calls once its deadline has passed', async (route) => {
    // Prepare: the route's longest path; the invocation has no time left when the request arrives.
    const request = await SCENARIOS[route].prepare(t.db());
    const noTimeLeft = { lambdaContext: { getRemainingTimeInMillis: () => 0 } };

    // Act
    const res = await send(request, ROTATED_TOKEN, noTimeLeft);

    // Assess: the prelude ran (token, limiter), then nothing of the route's own; a 503 saying so.
    expect(res.status, await res.clone().text()).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'unavailable' });
    expect(meter.statements.filter((s) => !LIMITER_TABLE.test(s))).toEqual([]);
    expect(meter.calls).toEqual([]);
  });

  it('refuses a token that matches neither the cached nor the re-read secret after two reads, before the database', async () => {
    // Prepare: the token's cache expired; the operator sends a token the secret never held.
    apiSecret.beforeRequest('expired');
    dbSecret.beforeRequest('expired');

    // Act
    const res = await send({ method: 'GET', path: '/api/usage' }, 'never-the-api-token-0123456789abcdef');

    // Assess: the token's two reads are the prelude's, and nothing reached the pool.
    expect(res.status).toBe(401);
    expect(apiSecret.reads).toBe(2);
    expect(apiSecret.reads).toBeLessThanOrEqual(OPERATOR_PRELUDE.secretReads);
    expect(meter).toMatchObject({ statements: [], checkouts: 0 });
  });

  it.each([...UNGUARDED])('%s touches neither the pool nor an outside system', async (route) => {
    const [method, path] = route.split(' ') as [string, string];
    const res = await app.request(path, { method });
    expect(res.status).toBe(200);
    expect(meter).toMatchObject({ statements: [], checkouts: 0, opens: 0, calls: [] });
  });

  it('reports what each route did', () => {
    // Declared against observed, for a person reading the run (a declaration changed by hand, a review).
    console.info(
      Object.entries(seen)
        .map(([route, line]) => `${route}: ${line}`)
        .join('\n'),
    );
    expect(Object.keys(seen)).toHaveLength(Object.keys(OPERATOR_ROUTES).length);
  });
});
