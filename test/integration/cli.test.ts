// The operator CLI against the test database: each command's --json output, and that bad input exits 2 with
// one line on stderr and no stack trace. Most commands run in this process through runCli, the function
// the `positivity` binary runs (a child process costs seconds of node + tsx start-up each); a few run as
// a child process (`node src/local/positivity.mjs`, what `npx positivity` runs) for what only a real
// process shows: the bin entry, its exit codes, stderr with no stack, and ./.env loading.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/local/cli.js';
import { useTestDb } from '../support/db.js';

const { db, url } = useTestDb();
const PHONE = '+14155550123';
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'dps-cli-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const cliEnv = () => ({
  PATH: process.env.PATH,
  DATABASE_URL: url(),
  DPS_DATA_DIR: dataDir,
  // Nothing listens here: the outbox's status callbacks fail fast instead of reaching a dev server.
  PUBLIC_BASE_URL: 'http://127.0.0.1:9',
});

/** One command line through runCli in this process, output captured as the binary prints it. */
async function cli(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'positivity', ...args], {
    env: cliEnv(),
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  });
  // The binary prints each piece with console.log / console.error: one trailing newline each.
  const lines = (texts: string[]) => texts.map((t) => `${t}\n`).join('');
  return { code, stdout: lines(out), stderr: lines(err) };
}

/** One command line as a child process: `node src/local/positivity.mjs …`. */
function spawnCli(
  options: { cwd?: string; env?: Record<string, string | undefined> },
  ...args: string[]
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.resolve('src/local/positivity.mjs'), ...args],
      { cwd: options.cwd, env: options.env ?? cliEnv(), timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON output; the assertions check its shape
async function json(...args: string[]): Promise<any> {
  const run = await cli(...args, '--json');
  expect(run.stderr, `stderr of ${args.join(' ')}`).toBe('');
  expect(run.code, `exit code of ${args.join(' ')}`).toBe(0);
  return JSON.parse(run.stdout);
}

describe('positivity CLI', () => {
  it('runs every command with --json against one database', { timeout: 120_000 }, async () => {
    const added = await json('subscribers', 'add', PHONE, '--tz', 'America/Chicago', '--name', 'Ana');
    expect(added).toMatchObject({
      phone: PHONE,
      status: 'pending',
      timeZone: 'America/Chicago',
      name: 'Ana',
    });
    const optIn = await db().selectFrom('outbox_messages').selectAll().execute();
    expect(optIn).toHaveLength(1);
    expect(optIn[0]).toMatchObject({ to_phone: PHONE });

    const changed = await json('subscribers', 'set-timezone', PHONE, 'Europe/London');
    expect(changed).toMatchObject({ phone: PHONE, timeZone: 'Europe/London' });

    // The subscriber confirms (the inbound route is covered elsewhere); then the planner has work.
    await db()
      .updateTable('subscribers')
      .set({ status: 'active', confirmed_at: new Date() })
      .where('phone', '=', PHONE)
      .execute();
    const listed = await json('subscribers', 'list');
    expect(listed).toEqual({
      subscribers: [expect.objectContaining({ phone: PHONE, status: 'active' })],
      next: null,
    });

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const plan = await json('plan', '--date', tomorrow);
    expect(plan).toMatchObject({ at: `${tomorrow}T00:00:00.000Z`, failed: 0 });
    expect(plan.planned).toBeGreaterThanOrEqual(1);
    const planned = await json('deliveries', '--date', tomorrow);
    expect(planned).toMatchObject({
      date: tomorrow,
      deliveries: [expect.objectContaining({ phone: PHONE, state: 'planned', timeZone: 'Europe/London' })],
    });

    const sent = await json('send-now', PHONE);
    expect(sent).toMatchObject({ delivery: { phone: PHONE, state: 'sent' } });
    const again = await cli('send-now', PHONE, '--json');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^positivity: .*already sent; one message per subscriber per day\n$/);
    expect(JSON.parse(again.stdout)).toMatchObject({
      error: { code: 'refused', message: expect.stringMatching(/one message per subscriber per day$/) },
    });

    const shown = await json('subscribers', 'show', PHONE);
    // The plan run decided two whole local dates (tomorrow and the day after); send-now sent today's.
    expect(shown.deliveries.map((d: { state: string }) => d.state).sort()).toEqual([
      'planned',
      'planned',
      'sent',
    ]);

    expect(await json('send-due')).toEqual({ due: 0, sent: 0, outcomes: [] });

    const usage = await json('usage');
    expect(usage).toMatchObject({ day: new Date().toISOString().slice(0, 10), sent: 1, smsSegments: 1 });
    expect(usage.estimatedCostUSD).toBeGreaterThan(0);

    const cleanup = await json('cleanup');
    expect(cleanup).toMatchObject({ complete: true, deliveryBodiesCleared: 0 });

    expect(await json('migrate')).toEqual({ applied: [] });

    const removed = await json('subscribers', 'remove', PHONE);
    expect(removed).toMatchObject({ phone: PHONE, status: 'opted_out', name: null });
    const rows = await db().selectFrom('deliveries').select('state').orderBy('local_date').execute();
    expect(rows.map((r) => r.state)).toEqual(['sent', 'cancelled', 'cancelled']); // today, and the two planned dates
  });

  it('deliveries shows why generated drafts were replaced', { timeout: 60_000 }, async () => {
    const { id } = await db()
      .insertInto('subscribers')
      .values({ phone: PHONE, time_zone: 'UTC', status: 'active' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: id,
        local_date: '2026-11-24',
        time_zone: 'UTC',
        window_start: '2026-11-24T12:00:00Z',
        window_end: '2026-11-24T17:00:00Z',
        planned_at: '2026-11-24T13:00:00Z',
        state: 'sent',
        claimed_at: '2026-11-24T13:00:00Z',
        sent_at: '2026-11-24T13:00:01Z',
        message_sid: `SM${'a'.repeat(32)}`,
        body: 'A curated message.',
        fallback: true,
        replacement_reasons: ['guard:alcohol', 'moderation_flagged'],
      })
      .execute();

    const [text, asJson] = await Promise.all([
      cli('deliveries', '--date', '2026-11-24'),
      json('deliveries', '--date', '2026-11-24'),
    ]);

    expect(text.stdout).toContain('  replaced: guard:alcohol, moderation_flagged');
    expect(asJson.deliveries).toEqual([
      expect.objectContaining({ replacementReasons: ['guard:alcohol', 'moderation_flagged'] }),
    ]);
  });

  it('answers bad input with exit code 2 and one line on stderr', { timeout: 60_000 }, async () => {
    const runs = await Promise.all([
      cli('subscribers', 'add', '12345', '--json'),
      cli('subscribers', 'set-timezone', PHONE, 'Mars/Olympus', '--json'),
      cli('deliveries', '--date', '2026-02-30', '--json'),
      cli('subscribers', 'show', '+14155550199', '--json'),
      cli('frobnicate'),
    ]);
    const [phone, zone, date, unknown, command] = runs;
    // The API's and the dev page's words for the same input.
    expect(phone?.stderr).toBe(
      'positivity: phone: must be a valid phone number in E.164 form, such as +14155550123\n',
    );
    expect(zone?.stderr).toBe('positivity: timeZone: must be an IANA time zone such as America/New_York\n');
    expect(date?.stderr).toMatch(
      /^positivity: not a date: "2026-02-30" \(use YYYY-MM-DD, 0001-01-01 to 9999-12-31\)/,
    );
    expect(unknown?.stderr).toBe('positivity: no subscriber has this phone number\n');
    expect(command?.stderr).toMatch(/unknown command 'frobnicate'/);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(command?.stdout).toBe('');
  });

  // Postgres has no year 0: the date reached the database and the command exited 1 with its error. Now the
  // CLI refuses it by the API's rule before it opens a database.
  it('a date Postgres cannot hold (year 0) exits 2 for deliveries and usage', {
    timeout: 60_000,
  }, async () => {
    const runs = await Promise.all([
      cli('deliveries', '--date', '0000-01-01', '--json'),
      cli('usage', '--date', '0000-01-01', '--json'),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(JSON.parse(run.stdout)).toEqual({
        error: {
          code: 'bad_input',
          message: 'not a date: "0000-01-01" (use YYYY-MM-DD, 0001-01-01 to 9999-12-31)',
        },
      });
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('with --json, a refusal is a JSON error object on stdout, with the same exit code', {
    timeout: 60_000,
  }, async () => {
    const [zone, unknown, command] = await Promise.all([
      cli('subscribers', 'set-timezone', PHONE, 'Mars/Olympus', '--json'),
      cli('subscribers', 'show', '+14155550199', '--json'),
      cli('frobnicate', '--json'),
    ]);
    expect(JSON.parse(zone?.stdout ?? '')).toEqual({
      error: { code: 'bad_input', message: 'timeZone: must be an IANA time zone such as America/New_York' },
    });
    expect(JSON.parse(unknown?.stdout ?? '')).toEqual({
      error: { code: 'not_found', message: 'no subscriber has this phone number' },
    });
    expect(JSON.parse(command?.stdout ?? '')).toMatchObject({ error: { code: 'usage' } });
    for (const run of [zone, unknown, command]) expect(run?.code).toBe(2);

    await json('subscribers', 'add', PHONE);
    const again = await cli('subscribers', 'add', PHONE, '--json');
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual({
      error: { code: 'conflict', message: 'a subscriber with this phone already exists (status pending)' },
    });
  });

  it('stores the canonical IANA name of a zone typed in another case', { timeout: 60_000 }, async () => {
    expect(await json('subscribers', 'add', PHONE, '--tz', 'asia/tokyo')).toMatchObject({
      timeZone: 'Asia/Tokyo',
    });
    expect(await json('subscribers', 'set-timezone', PHONE, 'EUROPE/LONDON')).toMatchObject({
      timeZone: 'Europe/London',
    });
  });

  it('--help lists every subscribers command, set-timezone included', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(
      /subscribers\s+manage subscribers: add, list, show, remove,\s+set-timezone\n/,
    );
  });

  it('as a process: exit codes 1 and 2, one line on stderr, no stack', { timeout: 60_000 }, async () => {
    // Prepare: a subscriber, so adding it again is a refusal (exit 1) rather than bad input (exit 2).
    await json('subscribers', 'add', PHONE);

    // Act: what `npx positivity` runs, the bin entry, one process per command line.
    const [phone, command, conflict] = await Promise.all([
      spawnCli({}, 'subscribers', 'add', '12345', '--json'),
      spawnCli({}, 'frobnicate'),
      spawnCli({}, 'subscribers', 'add', PHONE, '--json'),
    ]);

    // Assess
    expect(phone).toMatchObject({
      code: 2,
      stderr: 'positivity: phone: must be a valid phone number in E.164 form, such as +14155550123\n',
    });
    expect(JSON.parse(phone.stdout)).toMatchObject({ error: { code: 'bad_input' } });
    expect(command).toMatchObject({ code: 2, stdout: '' });
    expect(command.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toBe(
      'positivity: a subscriber with this phone already exists (status pending)\n',
    );
    expect(JSON.parse(conflict.stdout)).toEqual({
      error: { code: 'conflict', message: 'a subscriber with this phone already exists (status pending)' },
    });
    for (const run of [phone, command, conflict]) {
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  // A bad value in .env came out as 'Invalid configuration:;   - DEFAULT_TIMEZONE: …; - …': the
  // multi-line ConfigError with its newlines swapped for '; '.
  it('a bad setting is one plain line naming each bad variable', async () => {
    // Act
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['node', 'positivity', 'subscribers', 'list', '--json'], {
      env: { ...cliEnv(), DEFAULT_TIMEZONE: 'Mars/Olympus', TWILIO_MESSAGES_PER_DAY: '-5' },
      out: (text) => out.push(text),
      err: (text) => err.push(text),
    });

    // Assess
    const message =
      'invalid configuration: TWILIO_MESSAGES_PER_DAY: Too small: expected number to be >=1 (got "-5"); ' +
      'DEFAULT_TIMEZONE: expected an IANA time zone such as America/New_York (got "Mars/Olympus")';
    expect(code).toBe(1);
    expect(err).toEqual([`positivity: ${message}`]);
    expect(JSON.parse(out.join(''))).toEqual({ error: { code: 'failed', message } });
  });

  it('reads .env from the working directory; the environment wins', { timeout: 60_000 }, async () => {
    // Prepare: a .env (as .env.example invites) that sets PORT and a default zone, and a DEFAULT_TIMEZONE
    // in the environment that must win over the file's.
    const cwd = await mkdtemp(path.join(tmpdir(), 'dps-cli-env-'));
    await writeFile(
      path.join(cwd, '.env'),
      [
        '# local settings',
        'PORT=4321',
        'DEFAULT_TIMEZONE=Asia/Tokyo',
        'SERVICE_NAME="Dot Env Positivity"',
      ].join('\n'),
    );
    try {
      // Act: no PUBLIC_BASE_URL and no running server, so the status callback URL comes from PORT.
      const run = await spawnCli(
        {
          cwd,
          env: {
            PATH: process.env.PATH,
            DATABASE_URL: url(),
            DPS_DATA_DIR: dataDir,
            DEFAULT_TIMEZONE: 'Europe/Paris',
          },
        },
        'subscribers',
        'add',
        PHONE,
        '--json',
      );

      // Assess
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ phone: PHONE, timeZone: 'Europe/Paris' });
      const optIn = await db().selectFrom('outbox_messages').selectAll().executeTakeFirstOrThrow();
      expect(optIn.status_callback).toBe('http://localhost:4321/twilio/status');
      expect(optIn.body).toMatch(/Dot Env Positivity/);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  // `npm run migrate` did not read ./.env: with DATABASE_URL only in .env it worked on the running
  // `npm start`'s database instead (review 6, D1), and `-- down` reverted the wrong one.
  it('`npm run migrate` reads .env from the working directory, as npm start and the CLI do', {
    timeout: 60_000,
  }, async () => {
    // Prepare: DATABASE_URL only in .env, and a "running server" whose database nothing answers at, so
    // using it instead fails at once rather than starting an embedded Postgres.
    const cwd = await mkdtemp(path.join(tmpdir(), 'dps-migrate-env-'));
    await writeFile(path.join(cwd, '.env'), `DATABASE_URL=${url()}\n`);
    await mkdir(path.join(cwd, '.data'));
    await writeFile(
      path.join(cwd, '.data', 'server.json'),
      JSON.stringify({
        pid: process.pid,
        databaseUrl: 'postgres://postgres@127.0.0.1:9/running_server',
        appUrl: 'http://127.0.0.1:9',
        publicBaseUrl: 'http://127.0.0.1:9',
      }),
    );
    try {
      // Act: what `npm run migrate -- status` runs.
      const run = await new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [
            '--import',
            pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href,
            path.resolve('src/db/migrate-cli.ts'),
            'status',
          ],
          { cwd, env: { PATH: process.env.PATH }, timeout: 60_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
        );
      });

      // Assess: every migration of the test database, applied (none pending).
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines.length).toBeGreaterThan(5);
      for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}\d{4}-/);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  // Commander printed its own usage errors: no `positivity: ` prefix, and a suggestion on a second line
  // that also ended up in the --json message (review 6, D5).
  it('usage errors are one `positivity: …` line, the suggestion folded in', async () => {
    const [option, command, missing, asJson] = await Promise.all([
      cli('deliveries', '--bogus'),
      cli('subscribers', 'lst'),
      cli('subscribers', 'add'),
      cli('deliveries', '--bogus', '--json'),
    ]);
    expect(option?.stderr).toBe("positivity: unknown option '--bogus' (Did you mean --bodies?)\n");
    expect(command?.stderr).toBe("positivity: unknown command 'lst' (Did you mean list?)\n");
    expect(missing?.stderr).toBe("positivity: missing required argument 'phone'\n");
    expect(JSON.parse(asJson?.stdout ?? '')).toEqual({
      error: { code: 'usage', message: "unknown option '--bogus' (Did you mean --bodies?)" },
    });
    for (const run of [option, command, missing, asJson]) expect(run?.code).toBe(2);
  });
});
