// `npm start` on a data directory an earlier run left behind without a clean stop (kill -9, a reboot, a
// container restart): it either starts, or says in one line what holds it and what to do.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres } from '../../src/local/embedded-postgres.js';
import { useTestDb } from '../support/db.js';

const { url } = useTestDb();

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const runs: Run[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.pid) {
      process.kill(-run.child.pid, 'SIGINT');
      await run.exited;
    }
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** `npm start` in its own process group, as a terminal runs it. */
function npmStart(env: Record<string, string>): Run {
  let output = '';
  const child = spawn('npm', ['start'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), LOG_LEVEL: 'SILENT', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const run = { child, output: () => output, exited };
  runs.push(run);
  return run;
}

/** Resolves once the run prints "ready in", or with what it said when it exits first. */
async function readyOrExit(run: Run, ms = 90_000): Promise<{ ready: boolean; output: string }> {
  const deadline = Date.now() + ms;
  while (!/ready in [\d.]+ s/.test(run.output())) {
    if (run.child.exitCode !== null || Date.now() > deadline) return { ready: false, output: run.output() };
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ready: true, output: run.output() };
}

describe('npm start after a run that did not stop cleanly', () => {
  // The pid in .data/server.json was taken by another process (the pids after a reboot or in a new
  // container are handed out again): "already running" forever, and the CLI used a database nobody serves.
  it('starts when .data/server.json names a live process that is not serving there', {
    timeout: 120_000,
  }, async () => {
    // Prepare: a leftover announcement naming this test's own (live) process and a port nothing listens on.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dps-leftover-'));
    dirs.push(dataDir);
    const gone = await freePort();
    await writeFile(
      path.join(dataDir, 'server.json'),
      JSON.stringify({
        pid: process.pid,
        databaseUrl: `postgres://postgres:postgres@127.0.0.1:${gone}/postgres`,
        appUrl: `http://127.0.0.1:${gone}`,
        publicBaseUrl: `http://localhost:${gone}`,
      }),
    );

    // Act
    const run = npmStart({ DATABASE_URL: url(), DPS_DATA_DIR: dataDir, PORT: String(await freePort()) });

    // Assess
    const result = await readyOrExit(run);
    expect(result.ready, result.output).toBe(true);
  });

  // What Postgres said came through as it was: two lines with timestamps, and no word of what to do.
  it('says in one line which Postgres still holds .data/postgres and how to stop it (npm start and the CLI)', {
    timeout: 180_000,
  }, async () => {
    // Prepare: the embedded Postgres of a run that was killed, still running on the data directory.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dps-leftover-'));
    dirs.push(dataDir);
    const orphan = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), detached: true });
    try {
      const pid = (await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0];
      const env = { DPS_DATA_DIR: dataDir, PORT: String(await freePort()) };

      // Act
      const run = npmStart(env);
      const code = await run.exited;
      const cli = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [path.resolve('src/local/positivity.mjs'), 'subscribers', 'list'],
          { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
          (error, _stdout, stderr) =>
            resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }),
        ),
      );

      // Assess: npm's own header aside, one line each, naming the pid and the command that stops it.
      const said = run
        .output()
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('> '));
      expect(code).toBe(1);
      expect(said).toEqual([expect.stringMatching(/^npm start: could not start: /)]);
      expect(said[0]).toContain(`(pid ${pid})`);
      expect(said[0]).toContain(`kill -INT ${pid}`);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(new RegExp(`^positivity: [^\\n]*kill -INT ${pid}[^\\n]*\\n$`));
    } finally {
      await orphan.stop();
    }
  });
});
