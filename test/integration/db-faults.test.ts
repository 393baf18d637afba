// Fault injection against real Postgres: backends of this worker's own test database are terminated in the
// middle of a request (the webhooks app in a child process, so "the process stays up" is observed, not
// assumed) and in the middle of a CLI plan. Every answer is 2xx or 503, never 500, and nothing is lost.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useTestDb } from '../support/db.js';
import {
  API_TOKEN,
  inboundParams,
  newSid,
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

afterEach(async () => {
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
    server = await startFaultServer(t.url());

    const res = await fetch(`${server.url}/api/subscribers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: PHONE }),
    });

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toEqual({ error: 'the database is unavailable; try again shortly' });
    expect(alive(server)).toBe(true);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // The transaction never committed: no half sign-up.
    expect(await t.db().selectFrom('subscribers').selectAll().execute()).toEqual([]);
  });

  it('a signed STOP whose backend is terminated mid-statement gets 2xx or 503, never 500, and is applied', async () => {
    const { subscriber } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    server = await startFaultServer(t.url());
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
    const { delivery } = await seedSubscriber(t.db(), { phone: PHONE }, { state: 'sent', messageSid: sid });
    server = await startFaultServer(t.url());
    const s = server;

    const res = await killWhileWaiting(
      'SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE',
      [delivery?.id],
      () => post(s, '/twilio/status', statusParams(sid, 'delivered')),
    );

    expect([204, 503]).toContain(res.status);
    expect(alive(s)).toBe(true);
    if (res.status === 204) {
      expect(await t.db().selectFrom('deliveries').select('delivery_status').executeTakeFirst()).toEqual({
        delivery_status: 'delivered',
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
    const again = await plan().done;
    expect(again.code, again.stderr).toBe(0);
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
