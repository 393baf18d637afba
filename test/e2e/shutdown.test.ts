// README's shutdown promise, as a terminal keeps it: `npm start` in its own process group, a text sent,
// then one Ctrl-C — SIGINT to the whole group, the way a terminal delivers it to npm, the shell, node and
// anything else they started. The server must stop in order (in-flight work first, Postgres last), say
// "stopped cleanly" before npm gives the prompt back, log no lost connections, and leave nothing behind:
// no .data/server.json, no process of the group, no postmaster.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/embedded-postgres.js';
import { textAsSubscriber } from '../../src/local/phone-simulator.js';
import { startLocalServer } from '../../src/local/server.js';
import { useTestDb } from '../support/db.js';

const { db, url } = useTestDb();

interface Started {
  npm: ChildProcess;
  output: () => string;
  dataDir: string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; outputAtExit: string }>;
}

const started: Started[] = [];

async function npmStart(env: Record<string, string>): Promise<Started> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'dps-shutdown-'));
  const port = await freePort();
  let output = '';
  const npm = spawn('npm', ['start'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      DPS_DATA_DIR: dataDir,
      PORT: String(port),
      LOG_LEVEL: 'INFO',
      ...env,
    },
    // Its own process group, as a terminal's foreground job has: process.kill(-pid) reaches all of it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  npm.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  npm.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; outputAtExit: string }>(
    (resolve) => npm.on('exit', (code, signal) => resolve({ code, signal, outputAtExit: output })),
  );
  const run = { npm, output: () => output, dataDir, port, exited };
  started.push(run);
  return run;
}

async function until(what: string, check: () => boolean, run: Started, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline || run.npm.exitCode !== null)
      throw new Error(`${what} did not happen; output:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Postmasters a test saw: one a run failed to stop must not outlive the test. */
const postmasters: number[] = [];

afterEach(async () => {
  for (const pid of postmasters.splice(0)) if (alive(pid)) process.kill(pid, 'SIGINT');
  for (const run of started.splice(0)) {
    if (run.npm.pid && groupAlive(run.npm.pid)) process.kill(-run.npm.pid, 'SIGKILL');
    await rm(run.dataDir, { recursive: true, force: true });
  }
});

/** Adds a subscriber through the API: the opt-in text goes out and its status callbacks are in flight. */
async function sendAText(run: Started): Promise<void> {
  const secrets = JSON.parse(await readFile(path.join(run.dataDir, 'local-secrets.json'), 'utf8'));
  const response = await fetch(`http://127.0.0.1:${run.port}/api/subscribers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secrets.API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ phone: '+14155550123', timeZone: 'America/Chicago' }),
  });
  expect(response.status).toBe(201);
}

describe('npm start, then one Ctrl-C right after a send', () => {
  it.each([
    ['embedded Postgres', () => ({})],
    ['DATABASE_URL', () => ({ DATABASE_URL: url() })],
  ])(
    'with %s: stops cleanly, quietly and in order, leaving nothing behind',
    { timeout: 180_000 },
    async (_label, env) => {
      // Prepare: the server is up and a text has just gone out.
      const run = await npmStart(env());
      await until('"ready in"', () => /ready in [\d.]+ s/.test(run.output()), run);
      const pidFile = path.join(run.dataDir, 'postgres', 'postmaster.pid');
      const postmaster = existsSync(pidFile)
        ? Number((await readFile(pidFile, 'utf8')).split('\n')[0])
        : undefined;
      expect(existsSync(path.join(run.dataDir, 'server.json'))).toBe(true);
      await sendAText(run);

      // Act: Ctrl-C, as a terminal sends it.
      const pgid = run.npm.pid as number;
      const before = run.output().length;
      process.kill(-pgid, 'SIGINT');
      const exit = await run.exited;

      // Assess: "stopped cleanly" was printed before npm returned the prompt, as the last thing said.
      const shutdownLog = exit.outputAtExit.slice(before);
      expect(shutdownLog, shutdownLog).toMatch(/SIGINT: stopping[\s\S]*stopped cleanly\s*$/);
      // npm reports the interrupt (exit by SIGINT) or the child's 0, never a failure code of its own.
      expect(exit.code === 0 || exit.signal === 'SIGINT', `npm exit ${exit.code} ${exit.signal}`).toBe(true);
      // Quietly: nobody cut a database connection under the app, and nothing failed.
      expect(shutdownLog).not.toMatch(
        /connection (lost|closed)|terminating connection|"level":"(WARN|ERROR)"/,
      );
      // Nothing behind: the announcement withdrawn, no process of the group, Postgres stopped.
      expect(existsSync(path.join(run.dataDir, 'server.json'))).toBe(false);
      // npm has exited; the rest of its group (the shell, node) may take a moment to be reaped: poll, bounded.
      await eventually('no process of the group left', async () => !groupAlive(pgid), 5_000);
      if (postmaster !== undefined) {
        expect(alive(postmaster)).toBe(false);
        expect(existsSync(pidFile)).toBe(false);
      }
    },
  );
});

/** The pid of the postmaster on the run's data directory once it accepts connections (postmaster.pid says "ready"). */
async function readyPostmaster(run: Started): Promise<number | undefined> {
  const lines = await readFile(path.join(run.dataDir, 'postgres', 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => [],
  );
  return lines[7]?.trim() === 'ready' ? Number(lines[0]) : undefined;
}

// A fresh data directory's first start spends seconds on migrations after embedded Postgres is up. Node
// killed by the signal there (no handler yet) ran no exit hook, so the detached Postgres kept running and
// the next `npm start` failed on its lock file.
describe('npm start, then one Ctrl-C before it is ready', () => {
  it('exits at once, saying so in one line, and stops the embedded Postgres it started', {
    timeout: 180_000,
  }, async () => {
    // Prepare: a first start on a fresh data directory, Postgres up, the server not ready yet.
    const run = await npmStart({});
    const deadline = Date.now() + 90_000;
    let postmaster = await readyPostmaster(run);
    while (postmaster === undefined) {
      if (Date.now() > deadline || run.npm.exitCode !== null)
        throw new Error(`embedded Postgres never accepted connections; output:\n${run.output()}`);
      await new Promise((r) => setTimeout(r, 20));
      postmaster = await readyPostmaster(run);
    }
    postmasters.push(postmaster);
    const before = run.output().length;
    expect(run.output(), 'the signal must land during start-up').not.toMatch(/ready in/);

    // Act: Ctrl-C, as a terminal sends it.
    process.kill(-(run.npm.pid as number), 'SIGINT');
    const exit = await run.exited;

    // Assess: one line says why it stopped; npm reports the interrupt; Postgres goes too.
    const said = exit.outputAtExit.slice(before).trim();
    expect(said).toMatch(/^npm start: interrupted \(SIGINT\) during start-up; [^\n]*$/);
    expect(exit.code === 130 || exit.signal === 'SIGINT', `npm exit ${exit.code} ${exit.signal}`).toBe(true);
    await eventually('the embedded Postgres stopped', async () => !alive(postmaster), 10_000);
    expect(existsSync(path.join(run.dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  });
});

/** True once nothing accepts a TCP connection on the port (the server stopped listening). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function eventually(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('stop() with a request in flight (in this process)', () => {
  it('answers an inbound STOP it has started and records the opt-out before it closes the database', async () => {
    // Prepare: an active subscriber, and a transaction holding its row, so the STOP's update has to wait.
    const PHONE = '+14155550123';
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dps-stop-inflight-'));
    const port = await freePort();
    const server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(port), LOG_LEVEL: 'SILENT' },
      dataDir,
      announce: false,
    });
    await db()
      .insertInto('subscribers')
      .values({ phone: PHONE, time_zone: 'America/Chicago', status: 'active' })
      .execute();
    const holder = new pg.Client({ connectionString: url() });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM subscribers WHERE phone = $1 FOR UPDATE', [PHONE]);
      const text = textAsSubscriber(
        {
          db: db(),
          publicBaseUrl: server.runtime.config.PUBLIC_BASE_URL,
          serverUrl: server.url,
          authToken: server.runtime.config.secrets.TWILIO_AUTH_TOKEN,
          serviceNumber: server.runtime.serviceNumber,
        },
        PHONE,
        'STOP',
      ).catch((error: unknown) => error);
      await eventually('the STOP waiting for the row', async () => {
        const { rows } = await holder.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'daily-positivity-local' AND wait_event_type = 'Lock'",
        );
        return rows[0].n > 0;
      });

      // Act: stop (Ctrl-C) while the STOP is being handled; the row is let go once nothing new gets in.
      const stopped = server.stop();
      await eventually('the server refusing new connections', () => refused(port));
      await holder.query('COMMIT');
      const answered = await text;
      await stopped;

      // Assess: the subscriber got the opt-out reply, and the opt-out is in the database.
      expect(answered).toMatchObject({ status: 200, reply: expect.stringMatching(/STOP|unsubscribed/i) });
      const row = await db()
        .selectFrom('subscribers')
        .select('status')
        .where('phone', '=', PHONE)
        .executeTakeFirstOrThrow();
      expect(row.status).toBe('opted_out');
    } finally {
      await holder.end();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
