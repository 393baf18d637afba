// `npm start` on a data directory an earlier run left behind without a clean stop (kill -9, a reboot, a
// container restart): it either starts, or says in one line what holds it and what to do.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/embedded-postgres.js';
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
});
