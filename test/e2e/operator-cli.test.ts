// `positivity --api`, end to end: every command an operator runs against a deployed stack, run against the
// one-machine server over real HTTP, next to the same command against the database directly. Both must
// print the same JSON (the same values for reads, the same shape for writes on another subscriber) and exit
// with the same code. Then what goes wrong only remotely: a bad or missing token, a wrong URL, a server that
// is down, commands that make no sense over HTTP — one line on stderr, the documented exit code, no stack;
// two of them as real child processes (what `npx positivity` runs).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runCli } from '../../src/local/cli.js';
import { freePort } from '../../src/local/embedded-postgres.js';
import { textAsSubscriber } from '../../src/local/phone-simulator.js';
import { type LocalServer, startLocalServer } from '../../src/local/server.js';
import { useTestDb } from '../support/db.js';
import { eventually } from '../support/eventually.js';

const { db, url } = useTestDb();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed --json output; the assertions check its shape
  json: any;
}

/** A leaf's type, for comparing two outputs that must agree in shape but not in ids or instants. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)]));
  return value === null ? 'null' : typeof value;
}

const A = '+14155550101';
const B = '+14155550102';

describe('positivity --api against the local server, next to the same commands on the database', () => {
  let server: LocalServer;
  let dataDir: string;
  let token: string;

  /** The CLI in this process (the same runCli the `positivity` binary runs), its output captured. */
  async function cli(env: Record<string, string>, ...args: string[]): Promise<Run> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { env, out: (t) => out.push(t), err: (t) => err.push(t) };
    const code = await runCli(['node', 'positivity', ...args], io);
    const stdout = out.map((l) => `${l}\n`).join('');
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
    return { code, stdout, stderr: err.map((l) => `${l}\n`).join(''), json };
  }
  // The server's data directory, as with `npm start` running: the CLI finds the server there, and the
  // outbox's signed status callbacks of a local send land on it.
  const localEnv = () => ({ DATABASE_URL: url(), DPS_DATA_DIR: dataDir, LOG_LEVEL: 'SILENT' });
  const remoteEnv = () => ({ POSITIVITY_API_TOKEN: token, LOG_LEVEL: 'SILENT' });
  const local = (...args: string[]) => cli(localEnv(), ...args);
  const remote = (...args: string[]) => cli(remoteEnv(), '--api', server.url, ...args);

  /** The same command both ways, on the same data: the same exit code and the same JSON. */
  async function same(...args: string[]) {
    const [l, r] = [await local(...args, '--json'), await remote(...args, '--json')];
    expect(r.code, `exit code of --api ${args.join(' ')}`).toBe(l.code);
    expect(r.json, `--json of --api ${args.join(' ')}`).toEqual(l.json);
    expect(r.stderr).toBe(l.stderr);
    return l;
  }

  /** A write: locally on `a`, remotely on `b`; the same exit code and the same JSON shape. */
  async function alike(a: string[], b: string[]) {
    const [l, r] = [await local(...a, '--json'), await remote(...b, '--json')];
    expect(r.code, `exit code of --api ${b.join(' ')}`).toBe(l.code);
    expect(shape(r.json), `--json shape of --api ${b.join(' ')}`).toEqual(shape(l.json));
    return { l, r };
  }

  // Outbox callbacks (queued → sent → delivered) arrive asynchronously: reads compare a settled table.
  const settled = () =>
    eventually(
      'every outbox message delivered',
      () =>
        db()
          .selectFrom('outbox_messages')
          .select(['sid', 'status'])
          .where('status', '!=', 'delivered')
          .execute(),
      (open) => open.length === 0,
    );

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-operator-'));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints the same JSON and exits the same way for every remote command', {
    timeout: 120_000,
  }, async () => {
    // Prepare: the one-machine server on a free port (outbox for Twilio, curated writer, in-process timers).
    server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(await freePort()), LOG_LEVEL: 'SILENT' },
      dataDir,
      outboxStepDelayMs: 20,
    });
    token = server.runtime.config.secrets.API_TOKEN;

    // subscribers add: one each way; then both confirm with YES through the signed inbound route.
    const added = await alike(
      ['subscribers', 'add', A, '--tz', 'America/Chicago', '--name', 'Ana'],
      ['subscribers', 'add', B, '--tz', 'America/Chicago', '--name', 'Ben'],
    );
    expect(added.l.json).toMatchObject({ phone: A, status: 'pending', name: 'Ana' });
    expect(added.r.json).toMatchObject({ phone: B, status: 'pending', name: 'Ben' });
    for (const phone of [A, B])
      expect((await textAsSubscriber(server.simulator, phone, 'YES')).status).toBe(200);

    // Reads: identical.
    const listed = await same('subscribers', 'list');
    expect(listed.json.subscribers.map((s: { phone: string }) => s.phone)).toEqual([A, B]);
    expect((await same('subscribers', 'list', '--status', 'active', '--limit', '1')).json.next).toMatch(
      /^\d+$/,
    );

    // set-timezone: shape.
    await alike(
      ['subscribers', 'set-timezone', A, 'Europe/London'],
      ['subscribers', 'set-timezone', B, 'Europe/London'],
    );

    // send-now: locally in this process; remotely the API hands it to the server's in-process scheduler and
    // the CLI waits for the sender. Both sent, same shape.
    const sent = await alike(['send-now', A], ['send-now', B]);
    expect(sent.l.json.delivery).toMatchObject({ phone: A, state: 'sent' });
    expect(sent.r.json.delivery).toMatchObject({ phone: B, state: 'sent' });
    // A second one the same day: refused, exit 1, the same error object.
    const again = await alike(['send-now', A], ['send-now', B]);
    expect(again.l.code).toBe(1);
    expect(again.r.json).toEqual(again.l.json);
    expect(again.r.json.error).toMatchObject({ code: 'refused' });

    await settled();
    expect((await same('subscribers', 'show', A)).json.deliveries).toHaveLength(1);
    await same('subscribers', 'show', B, '--bodies');
    await same('deliveries');
    const deliveries = await same('deliveries', '--date', sent.l.json.localDate);
    expect(deliveries.json.deliveries).toHaveLength(2);
    expect(deliveries.json.deliveries[0]).not.toHaveProperty('body');
    const withBodies = await same('deliveries', '--date', sent.l.json.localDate, '--bodies');
    expect(withBodies.json.deliveries[0].body).toEqual(expect.any(String));
    const usage = await same('usage');
    expect(usage.json).toMatchObject({ sent: 2 });
    await same('usage', '--date', '2026-11-24');
    const capacity = await same(
      'capacity',
      '--subscribers',
      '5000',
      '--zones',
      'America/New_York=3,Europe/London=1',
    );
    expect(capacity.json).toMatchObject({ stage: 'dev', subscribers: 5000 });

    // Refusals and bad input: the same code, message and exit code both ways.
    expect((await same('subscribers', 'show', '+14155550199')).json).toEqual({
      error: { code: 'not_found', message: 'no subscriber has this phone number' },
    });
    expect((await same('subscribers', 'add', A)).code).toBe(1);
    expect((await same('subscribers', 'add', '12345')).code).toBe(2);
    expect((await same('deliveries', '--date', '2026-02-30')).code).toBe(2);
    expect((await same('capacity', '--zones', 'Mars/Olympus=1')).code).toBe(2);
    const pending = '+14155550103';
    await local('subscribers', 'add', pending);
    expect((await same('send-now', pending)).json.error.message).toMatch(/must text YES first/);

    // The text output is the same too.
    const day = ['--date', sent.l.json.localDate];
    const [lText, rText] = [await local('deliveries', ...day), await remote('deliveries', ...day)];
    expect(rText.stdout).toBe(lText.stdout);

    // remove: shape.
    const removed = await alike(['subscribers', 'remove', A], ['subscribers', 'remove', B]);
    expect(removed.r.json).toMatchObject({ phone: B, status: 'opted_out', name: null });
  });

  it('takes the URL from POSITIVITY_API_URL as from --api', { timeout: 60_000 }, async () => {
    const viaEnv = await cli({ ...remoteEnv(), POSITIVITY_API_URL: server.url }, 'usage', '--json');
    const viaFlag = await remote('usage', '--json');
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.json).toEqual(viaFlag.json);
  });

  it.each([
    [
      'a bad token',
      { POSITIVITY_API_TOKEN: 'not-the-token-0123456789abcdef' },
      () => server.url,
      1,
      'unauthorized',
      /^positivity: invalid API token \(check POSITIVITY_API_TOKEN\)\n$/,
    ],
    ['no token', {}, () => server.url, 2, 'bad_input', /^positivity: POSITIVITY_API_TOKEN is not set/],
    [
      'a URL that is not one',
      { POSITIVITY_API_TOKEN: 'x' },
      () => 'example.com',
      2,
      'bad_input',
      /^positivity: not a URL: "example\.com"/,
    ],
    [
      'plain http to another host',
      { POSITIVITY_API_TOKEN: 'x' },
      () => 'http://api.example.com',
      2,
      'bad_input',
      /refusing to send the API token over plain http/,
    ],
    [
      'a URL that is not the API',
      { POSITIVITY_API_TOKEN: 'x' },
      () => `${server.url}/stage`,
      1,
      'unreachable',
      /has no GET \/stage\/api\/usage \(HTTP 404\)/,
    ],
  ])(
    '%s: one line on stderr, exit %i',
    { timeout: 60_000 },
    async (_label, env, target, exitCode, code, message) => {
      const run = await cli({ LOG_LEVEL: 'SILENT', ...env }, '--api', target(), 'usage', '--json');
      expect(run.code).toBe(exitCode);
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.json).toMatchObject({ error: { code } });
    },
  );

  it.each([
    ['migrate', /migrations run during each deploy/],
    ['cleanup', /cleanup job applies the retention rules daily/],
    ['send-due', /EventBridge Scheduler sends each delivery/],
    ['plan', /the planner runs daily in AWS/],
  ])(
    'refuses `%s` under --api (exit 2) and says what to do instead',
    { timeout: 60_000 },
    async (command, message) => {
      const run = await remote(command, '--json');
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`^positivity: \`${command}\` does not run against --api: `));
      expect(run.stderr).toMatch(message);
      expect(run.json).toMatchObject({ error: { code: 'bad_input' } });
    },
  );

  it('as a process: a bad token and a server that is down are one line each, no stack', {
    timeout: 60_000,
  }, async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const spawn = (env: Record<string, string>, ...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['src/local/positivity.mjs', ...args],
          { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
        );
      });
    const [badToken, serverDown] = await Promise.all([
      spawn({ POSITIVITY_API_TOKEN: 'not-the-token-0123456789abcdef' }, '--api', server.url, 'deliveries'),
      spawn({ POSITIVITY_API_TOKEN: token, POSITIVITY_API_URL: down }, 'subscribers', 'list'),
    ]);
    expect(badToken).toMatchObject({ code: 1, stdout: '' });
    expect(badToken.stderr).toBe('positivity: invalid API token (check POSITIVITY_API_TOKEN)\n');
    expect(serverDown).toMatchObject({ code: 1, stdout: '' });
    expect(serverDown.stderr).toBe(`positivity: cannot reach ${down} (ECONNREFUSED)\n`);
  });
});
