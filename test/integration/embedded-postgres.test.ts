// Stopping embedded Postgres must not cut a connection the app has just closed. pg's pool.end() resolves
// once it has *sent* each client's goodbye (Terminate), not once the server has read it; on a busy machine
// the backend may not have run yet. A fast shutdown (SIGINT) then sends it SIGTERM first, and the client
// receives "terminating connection due to administrator command" — the `npm start` shutdown flake.
// Here the backend is held still with SIGSTOP, so the busy machine is reproduced every time.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/local/embedded-postgres.js';

/** True when `signal` is pending for the (stopped) process `pid`: it has been sent and not yet handled. */
function pending(pid: number, signal: number): boolean {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mask = (name: string) =>
    BigInt(`0x${status.match(new RegExp(`^${name}:\\s*([0-9a-f]+)`, 'm'))?.[1]}`);
  const bit = 1n << BigInt(signal - 1);
  return ((mask('ShdPnd') | mask('SigPnd')) & bit) !== 0n;
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.runIf(process.platform === 'linux')('embedded Postgres stop', () => {
  let dir: string;
  let server: EmbeddedServer | undefined;
  const log: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dps-embedded-stop-'));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets a client that has just said goodbye leave on its own, with no "terminating connection"', async () => {
    // Prepare: a connected client, its backend held still (as an unscheduled process on a loaded machine).
    server = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'data'),
      ephemeral: true,
      onLog: (line) => log.push(line),
    });
    const client = new pg.Client({ connectionString: server.url() });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.message));
    await client.connect();
    const backend = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    process.kill(backend, 'SIGSTOP');

    // Act: the client says goodbye (as pool.end() does) and, at once, the server is stopped.
    const ended = client.end();
    const stopped = server.stop();
    // Resume the backend only once the server has taken the request, and — if it is a fast shutdown —
    // once the SIGTERM it sends the backend is waiting to be handled: the order a busy machine can give.
    try {
      await until('the shutdown request', () => log.some((l) => /received \w+ shutdown request/.test(l)));
      if (log.some((l) => /received fast shutdown request/.test(l)))
        await until('SIGTERM sent to the backend', () => pending(backend, 15));
    } finally {
      process.kill(backend, 'SIGCONT');
    }
    await Promise.all([ended, stopped]);
    server = undefined;

    // Assess: the backend read the goodbye and left; nothing cut the connection under the client.
    expect(errors).toEqual([]);
    expect(log.join('')).not.toMatch(/terminating connection/);
  });

  it('still stops when a session stays open: after the grace period it is cut', async () => {
    // Prepare: a client that never says goodbye (another program left connected).
    server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), ephemeral: true });
    const client = new pg.Client({ connectionString: server.url() });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.message));
    await client.connect();

    // Act
    await server.stop({ graceMs: 200 });
    server = undefined;

    // Assess: the server is gone and the lingering client was told why.
    await until('the client hears of it', () => errors.length > 0);
    expect(errors[0]).toBe('terminating connection due to administrator command');
    await expect(client.query('SELECT 1')).rejects.toThrow();
  });
});
