// Fault injection against real Postgres: backends of this worker's own test database are terminated in the
// middle of a request (the webhooks app in a child process, so "the process stays up" is observed, not
// assumed) and in the middle of a CLI plan. Every answer is 2xx or 503, never 500, and nothing is lost.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setupServer } from 'msw/node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { createTwilioSms } from '../../src/adapters/twilio-sms.js';
import { createDb } from '../../src/db/connection.js';
import { type SendDeps, sendDailyMessage } from '../../src/services/send-daily-message.js';
import { useTestDb } from '../support/db.js';
import {
  CountingLimiter,
  fixedClock,
  TWILIO_ACCOUNT_SID,
  TWILIO_AUTH_TOKEN,
  twilioCreated,
  twilioHandler,
} from '../support/sender-doubles.js';
import {
  API_TOKEN,
  inboundParams,
  newSid,
  RecordingScheduler,
  seedSubscriber,
  signedForm,
  statusParams,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
/** application_name of the child server's pool: the only backends these tests terminate. */
const FAULT_APP_NAME = 'dps-fault-app';

interface FaultServer {
  url: string;
  child: ChildProcess;
  stderr: string[];
}

let server: FaultServer | undefined;

async function startFaultServer(databaseUrl: string): Promise<FaultServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/fault-server.ts'], {
    env: { ...process.env, FAULT_DATABASE_URL: databaseUrl, FAULT_APP_NAME, LOG_LEVEL: 'SILENT' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk) => stderr.push(String(chunk)));
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fault server exited (${code}): ${stderr.join('')}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  return { url, child, stderr };
}

// One child server for the file (starting one costs seconds); each test checks it is still alive.
afterAll(async () => {
  if (server && server.child.exitCode === null) {
    const exited = new Promise((resolve) => server?.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
  server = undefined;
});

const alive = (s: FaultServer) => s.child.exitCode === null && s.child.signalCode === null;

/** A connection of the test's own, for locks and for terminating backends of this database only. */
async function control(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: t.url(), application_name: 'dps-fault-control' });
  await client.connect();
  return client;
}

/** Waits until a backend of `appName` is blocked on a lock, and returns its pid. */
async function lockedBackend(client: pg.Client, appName: string, timeoutMs = 10_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    // Activity statistics are a snapshot per transaction, and the caller holds one open.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`,
      [appName],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no backend of ${appName} waited on a lock within ${timeoutMs} ms`);
}

async function post(s: FaultServer, route: string, params: Record<string, string>) {
  const { body, headers } = signedForm(route, params);
  return fetch(`${s.url}${route}`, { method: 'POST', body, headers });
}

/** Holds `lockSql` in a transaction, sends the request, kills the backend waiting for it, then lets go. */
async function killWhileWaiting(lockSql: string, params: unknown[], request: () => Promise<Response>) {
  const ctl = await control();
  try {
    await ctl.query('BEGIN');
    await ctl.query(lockSql, params);
    const pending = request();
    const pid = await lockedBackend(ctl, FAULT_APP_NAME);
    await ctl.query('SELECT pg_terminate_backend($1)', [pid]);
    await ctl.query('COMMIT');
    return await pending;
  } finally {
    await ctl.end();
  }
}

describe('terminated backends under the webhooks app (child process)', () => {
  it('a connection lost inside a transaction leaves the process up and answers 503 with Retry-After', async () => {
    server ??= await startFaultServer(t.url());

    const res = await fetch(`${server.url}/api/subscribers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: PHONE }),
    });

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toEqual({
      error: 'the database is unavailable; try again shortly',
      code: 'unavailable',
    });
    expect(alive(server)).toBe(true);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // The transaction never committed: no half sign-up.
    expect(await t.db().selectFrom('subscribers').selectAll().execute()).toEqual([]);
  });

  it('a signed STOP whose backend is terminated mid-statement gets 2xx or 503, never 500, and is applied', async () => {
    const { subscriber } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    server ??= await startFaultServer(t.url());
    const s = server;

    const res = await killWhileWaiting(
      'SELECT 1 FROM subscribers WHERE id = $1 FOR UPDATE',
      [subscriber.id],
      () => post(s, '/twilio/inbound', inboundParams(PHONE, 'STOP')),
    );

    expect([200, 503]).toContain(res.status);
    expect(alive(s)).toBe(true);
    // Retried inside the request, or kept and applied once the database answers again.
    await expect
      .poll(
        async () => (await t.db().selectFrom('subscribers').select('status').executeTakeFirst())?.status,
        {
          timeout: 10_000,
        },
      )
      .toBe('opted_out');
    expect(await t.db().selectFrom('consent_events').select('kind').execute()).toEqual([{ kind: 'opt_out' }]);
  });

  it('a status callback whose backend is terminated mid-statement gets 2xx or 503, never 500', async () => {
    const sid = newSid();
    await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    server ??= await startFaultServer(t.url());
    const s = server;

    // The callback's one write that can wait on a lock: its message's status row.
    const res = await killWhileWaiting(
      'SELECT 1 FROM message_statuses WHERE message_sid = $1 FOR UPDATE',
      [sid],
      () => post(s, '/twilio/status', statusParams(sid, 'delivered')),
    );

    expect([204, 503]).toContain(res.status);
    expect(alive(s)).toBe(true);
    if (res.status === 204) {
      expect(await t.db().selectFrom('message_statuses').select('status').executeTakeFirst()).toEqual({
        status: 'delivered',
      });
    }
    // Twilio's repeat (or the next status) is applied once the database answers.
    expect((await post(s, '/twilio/status', statusParams(sid, 'delivered'))).status).toBe(204);
    expect(await t.db().selectFrom('delivery_status_events').select('status').execute()).toEqual([
      { status: 'delivered' },
    ]);
  });
});

describe('terminated backend under the CLI', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-fault-cli-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  function plan(): { done: Promise<{ code: number; stdout: string; stderr: string }> } {
    return {
      done: new Promise((resolve) => {
        execFile(
          process.execPath,
          ['src/local/positivity.mjs', 'plan', '--json'],
          {
            env: {
              PATH: process.env.PATH,
              DATABASE_URL: t.url(),
              DPS_DATA_DIR: dataDir,
              PUBLIC_BASE_URL: 'http://127.0.0.1:9',
            },
            timeout: 60_000,
          },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
        );
      }),
    };
  }

  it('`positivity plan` killed mid-plan exits 1 with one line on stderr; a rerun plans each subscriber once', {
    timeout: 120_000,
  }, async () => {
    for (let i = 0; i < 5; i++) await seedSubscriber(t.db(), { phone: `+1212555${String(1000 + i)}` });
    const ctl = await control();
    let run: Awaited<ReturnType<typeof plan>['done']>;
    try {
      await ctl.query('BEGIN');
      await ctl.query('LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE');
      const pending = plan();
      const pid = await lockedBackend(ctl, 'daily-positivity-local', 30_000);
      await ctl.query('SELECT pg_terminate_backend($1)', [pid]);
      await ctl.query('COMMIT');
      run = await pending.done;
    } finally {
      await ctl.end();
    }

    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^positivity: .*database/i);
    expect(run.stderr).not.toMatch(/\n\s+at /);

    const rerun = await plan().done;
    expect(rerun.code, rerun.stderr).toBe(0);
    const perDay = await t
      .db()
      .selectFrom('deliveries')
      .select(['subscriber_id', 'local_date'])
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .groupBy(['subscriber_id', 'local_date'])
      .execute();
    expect(perDay.length).toBeGreaterThan(0);
    for (const row of perDay) expect(Number(row.n)).toBe(1);
  });
});

describe('terminated backend under the sender (mid-send)', () => {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterAll(() => server.close());

  it('a connection lost after Twilio accepted: recorded on retry, never resent, one delivery per subscriber and date', async () => {
    const NOW = '2026-11-25T18:00:00Z';
    const subscriber = await t
      .db()
      .insertInto('subscribers')
      .values({ phone: PHONE, time_zone: 'America/New_York', status: 'active', confirmed_at: NOW })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { id: deliveryId } = await t
      .db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriber.id,
        local_date: '2026-11-25',
        time_zone: 'America/New_York',
        window_start: '2026-11-25T17:00:00Z',
        window_end: '2026-11-25T22:00:00Z',
        planned_at: NOW,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const senderDb = createDb({ connectionString: t.url(), max: 2, applicationName: 'dps-fault-sender' });
    const ctl = await control();
    const twilioSeen: URLSearchParams[] = [];
    let killed: Promise<void> | undefined;
    server.use(
      twilioHandler(twilioSeen, [
        async (form) => {
          // Twilio accepts; before the sender records it, its connection dies under a held row lock.
          await ctl.query('BEGIN');
          await ctl.query('SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE', [deliveryId]);
          killed = (async () => {
            const pid = await lockedBackend(ctl, 'dps-fault-sender');
            await ctl.query('SELECT pg_terminate_backend($1)', [pid]);
            await ctl.query('COMMIT');
          })();
          return twilioCreated(form);
        },
      ]),
    );
    const clock = fixedClock(NOW);
    const deps: SendDeps = {
      db: senderDb,
      clock,
      limiter: new CountingLimiter({}, clock),
      writer: createCuratedWriter(),
      scheduler: new RecordingScheduler(),
      sms: createTwilioSms({
        credentials: { accountSid: TWILIO_ACCOUNT_SID, authToken: TWILIO_AUTH_TOKEN },
        sender: { from: '+14155550100' },
        clock,
      }),
      settings: {
        publicBaseUrl: 'https://sms.example.com',
        messagesPerDay: 100,
        dailyCostLimitUsd: 10,
        prices: { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 },
        writeTimeoutMs: 5_000,
      },
    };
    try {
      const first = await sendDailyMessage(deps, deliveryId);
      await killed;
      // Recorded on a fresh connection: the delivery says what Twilio has.
      expect(first).toMatchObject({ outcome: 'sent' });
      // Scheduler delivers again: nothing is sent twice.
      expect(await sendDailyMessage(deps, deliveryId)).toMatchObject({ outcome: 'duplicate', state: 'sent' });
      expect(twilioSeen).toHaveLength(1);
      const rows = await t
        .db()
        .selectFrom('deliveries')
        .select(['subscriber_id', 'local_date', 'state'])
        .execute();
      expect(rows).toEqual([{ subscriber_id: subscriber.id, local_date: '2026-11-25', state: 'sent' }]);
      expect(await t.db().selectFrom('usage_daily').select('sms_sent').execute()).toEqual([{ sms_sent: 1 }]);
    } finally {
      await ctl.end();
      await senderDb.destroy();
    }
  });
});
