// A deploy's migration against a live database: a session that touched a table and left its transaction
// open (idle in transaction, a long report, the planner's batch) holds a lock the migration's CREATE INDEX or
// DROP TRIGGER waits for, and every later write (or read) of that table queues behind that wait. Bounded, the
// migration gives up after a few short waits, names who held the table, and leaves nothing applied; the
// table's writers wait one lock wait at most. Bounds are the test's own (short); DEPLOYMENT.md has the real.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, Migrator, sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createDb } from '../../src/db/connection.js';
import { migrateDown, migrateToLatest } from '../../src/db/migrator.js';
import { createEmptyDatabase } from '../support/db.js';

const names = Object.keys(migrations);
const LAST = names.at(-1) as string;
/** The last migration's first statement: CREATE INDEX on subscribers, which waits for a SHARE lock. */
const LAST_INDEX = 'subscribers_pending_created_idx';

/** Short bounds, so a blocked run gives up in about a second. */
const LOCKS = { lockMs: 300, attempts: 3, backoffMs: 100 } as const;
/** What a run blocked throughout spends: every attempt's wait and the pauses between (100 ms, 200 ms). */
const GIVE_UP_MS = LOCKS.attempts * LOCKS.lockMs + LOCKS.backoffMs * (2 ** (LOCKS.attempts - 1) - 1);
/** Round trips, the diagnosis, a loaded 2-core machine. */
const SLACK_MS = 1_000;

const MIGRATOR = 'dps-locks-migrator';
const HOLDER = 'dps-locks-holder';
const OTHER = 'dps-locks-other';

const opened: { end(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.end().catch(() => {})));
});

/** A fresh database with `release`'s migrations applied, and the migrator's pool on it. */
async function databaseAt(suffix: string, release: string[]): Promise<{ db: Kysely<unknown>; url: string }> {
  const url = await createEmptyDatabase(suffix);
  const db = createDb({ connectionString: url, max: 2, applicationName: MIGRATOR }) as Kysely<unknown>;
  opened.push({ end: () => db.destroy() });
  const chosen = Object.fromEntries(Object.entries(migrations).filter(([name]) => release.includes(name)));
  const result = await new Migrator({
    db,
    provider: { getMigrations: async () => chosen },
  }).migrateToLatest();
  if (result.error) throw result.error;
  return { db, url };
}

async function session(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  opened.push(client);
  return client;
}

async function backendPid(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]?.pid as number;
}

/** Waits until the migrator's backend waits for a lock (seen from `observer`, outside any transaction). */
async function migratorWaitsForLock(observer: pg.Client): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const { rowCount } = await observer.query(
      `SELECT 1 FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`,
      [MIGRATOR],
    );
    if (rowCount) return;
    await sleep(20);
  }
  throw new Error('the migration never waited for a lock');
}

type Settled =
  | { state: 'resolved'; value: unknown; afterMs: number }
  | { state: 'rejected'; error: unknown; afterMs: number }
  | { state: 'still waiting' };

/** How `promise` ended within `ms` of `since`, and when; 'still waiting' when it had not. */
function settledWithin(promise: Promise<unknown>, since: number, ms: number): Promise<Settled> {
  const ended = promise.then(
    (value): Settled => ({ state: 'resolved', value, afterMs: Date.now() - since }),
    (error: unknown): Settled => ({ state: 'rejected', error, afterMs: Date.now() - since }),
  );
  const left = Math.max(0, since + ms - Date.now());
  return Promise.race([ended, sleep(left).then((): Settled => ({ state: 'still waiting' }))]);
}

async function appliedNames(db: Kysely<unknown>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  return rows.map((r) => r.name);
}

async function indexExists(db: Kysely<unknown>, name: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`SELECT to_regclass(${name}) IS NOT NULL AS found`.execute(
    db,
  );
  return rows[0]?.found ?? false;
}

/** The message of a rejection, after checking it is one line that names the blocker but not its query. */
function blockedMessage(outcome: Settled, holderPid: number): string {
  expect(outcome.state, 'the blocked migration gave up').toBe('rejected');
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(Error);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  expect(message).toContain(`pid ${holderPid}`);
  expect(message).toContain(HOLDER);
  expect(message).toContain('idle in transaction');
  expect(message).toMatch(/transaction open \d+ s/);
  // Never the holder's statement: it may carry a phone number.
  expect(message).not.toMatch(/INSERT|SELECT|\+1212555/);
  return message;
}

describe('a migration that meets an open transaction on its table', () => {
  it('gives up within its bounds naming the holder, applies nothing, and holds the table’s writers one wait at most', {
    timeout: 20_000,
  }, async () => {
    // Prepare: a database one migration behind, and a session that wrote to subscribers and went idle
    // without committing (what an operator's psql or a stuck batch leaves).
    const { db, url } = await databaseAt('locks_up', names.slice(0, -1));
    const holder = await session(url, HOLDER);
    await holder.query('BEGIN');
    await holder.query(
      `INSERT INTO subscribers (phone, status, time_zone) VALUES ('+12125550100', 'active', 'UTC')`,
    );
    const holderPid = await backendPid(holder);
    const other = await session(url, OTHER);
    let migrating: Promise<unknown> | undefined;
    let writing: Promise<unknown> | undefined;
    try {
      // Act: the deploy's migration, then a webhook's write to the same table while the migration waits.
      const started = Date.now();
      migrating = migrateToLatest(db, LOCKS);
      await migratorWaitsForLock(other);
      const writeStarted = Date.now();
      writing = other.query(
        `INSERT INTO subscribers (phone, status, time_zone) VALUES ('+12125550101', 'active', 'UTC')`,
      );

      // Assess: the write waited for the migration's one lock wait, not for the holder to end.
      const write = await settledWithin(writing, writeStarted, LOCKS.lockMs + SLACK_MS);
      expect(write.state, 'an INSERT queued behind the waiting migration').toBe('resolved');
      const migration = await settledWithin(migrating, started, GIVE_UP_MS + SLACK_MS);
      const message = blockedMessage(migration, holderPid);
      expect(message).toContain(`migration ${LAST} failed:`);
      expect(message).toMatch(/ShareLock on (public\.)?subscribers/);
      expect(message).toContain(`${LOCKS.attempts} attempts`);
      // Nothing of it applied: its transaction rolled back.
      expect(await appliedNames(db)).toEqual(names.slice(0, -1));
      expect(await indexExists(db, LAST_INDEX)).toBe(false);

      // Once the holder ends, the next run applies it.
      await holder.query('ROLLBACK');
      expect(await migrateToLatest(db, LOCKS)).toEqual([LAST]);
      expect(await indexExists(db, LAST_INDEX)).toBe(true);
    } finally {
      // Let go, so a migration still waiting (before bounds existed) ends and the test does not hang.
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.allSettled([migrating, writing]);
    }
  });

  it('applies it on a later attempt when the holder ends in between', { timeout: 20_000 }, async () => {
    // Prepare: the holder ends half a lock wait after the migration's first wait has given up.
    const { db, url } = await databaseAt('locks_retry', names.slice(0, -1));
    const holder = await session(url, HOLDER);
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE subscribers IN ROW EXCLUSIVE MODE`);
    const other = await session(url, OTHER);
    let migrating: Promise<string[]> | undefined;
    try {
      // Act
      const started = Date.now();
      migrating = migrateToLatest(db, LOCKS);
      await migratorWaitsForLock(other);
      await sleep(LOCKS.lockMs * 1.5);
      await holder.query('COMMIT');

      // Assess
      const migration = await settledWithin(migrating, started, GIVE_UP_MS + SLACK_MS);
      expect(migration).toMatchObject({ state: 'resolved', value: [LAST] });
      expect(await indexExists(db, LAST_INDEX)).toBe(true);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.allSettled([migrating]);
    }
  });

  it('reverting one (migrateDown) is bounded the same way, and a read queued behind it waits one wait at most', {
    timeout: 20_000,
  }, async () => {
    // Prepare: the latest schema, and a report that read consent_events and left its transaction open. The
    // last migration's down starts with DROP TRIGGER on consent_events: an ACCESS EXCLUSIVE lock.
    const { db, url } = await databaseAt('locks_down', names);
    const holder = await session(url, HOLDER);
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM consent_events');
    const holderPid = await backendPid(holder);
    const other = await session(url, OTHER);
    let reverting: Promise<unknown> | undefined;
    let reading: Promise<unknown> | undefined;
    try {
      // Act
      const started = Date.now();
      reverting = migrateDown(db, LOCKS);
      await migratorWaitsForLock(other);
      const readStarted = Date.now();
      reading = other.query('SELECT count(*) FROM consent_events');

      // Assess
      const read = await settledWithin(reading, readStarted, LOCKS.lockMs + SLACK_MS);
      expect(read.state, 'a SELECT queued behind the waiting revert').toBe('resolved');
      const revert = await settledWithin(reverting, started, GIVE_UP_MS + SLACK_MS);
      const message = blockedMessage(revert, holderPid);
      expect(message).toContain(`migration ${LAST} failed:`);
      expect(message).toMatch(/AccessExclusiveLock on (public\.)?consent_events/);
      expect(await appliedNames(db)).toEqual(names);

      await holder.query('ROLLBACK');
      expect(await migrateDown(db, LOCKS)).toEqual([LAST]);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.allSettled([reverting, reading]);
    }
  });
});

describe('`positivity migrate` blocked by an open transaction', () => {
  it('exits 1 with one line naming the holder, no stack trace', { timeout: 20_000 }, async () => {
    // Prepare: the CLI with the test's short bounds in place of the deployed ones.
    vi.resetModules();
    vi.doMock('../../src/domain/call-budgets.js', async (importOriginal) => ({
      ...(await importOriginal<object>()),
      MIGRATION_LOCKS: LOCKS,
    }));
    const { runCli } = await import('../../src/local/cli.js');
    const { db, url } = await databaseAt('locks_cli', names.slice(0, -1));
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dps-locks-cli-'));
    const holder = await session(url, HOLDER);
    await holder.query('BEGIN');
    await holder.query(
      `INSERT INTO subscribers (phone, status, time_zone) VALUES ('+12125550100', 'active', 'UTC')`,
    );
    const holderPid = await backendPid(holder);
    const out: string[] = [];
    const err: string[] = [];
    let running: Promise<number> | undefined;
    try {
      // Act
      const started = Date.now();
      running = runCli(['node', 'positivity', 'migrate'], {
        env: { PATH: process.env.PATH, DATABASE_URL: url, DPS_DATA_DIR: dataDir },
        out: (text) => out.push(text),
        err: (text) => err.push(text),
      });

      // Assess
      const run = await settledWithin(running, started, GIVE_UP_MS + SLACK_MS);
      expect(run).toMatchObject({ state: 'resolved', value: 1 });
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      // Not "the database is unavailable": it answered, and said who is in the way.
      expect(err[0]).toMatch(new RegExp(`^positivity: migration ${LAST} failed: gave up`));
      blockedMessage({ state: 'rejected', error: new Error(err[0]), afterMs: 0 }, holderPid);
      expect(err[0]).not.toMatch(/\n\s+at /);
      expect(await appliedNames(db)).toEqual(names.slice(0, -1));
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.allSettled([running]);
      vi.doUnmock('../../src/domain/call-budgets.js');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
