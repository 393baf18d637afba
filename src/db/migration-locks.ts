// A migration's lock waits: bounded for its transaction only, and watched from a second connection of the
// pool, so a run that gives up can say which lock it wanted and which sessions were in the way. Postgres
// names neither when lock_timeout cancels the statement, and by then the wait is gone from pg_locks.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, sql } from 'kysely';
import type { MigrationLockBounds } from '../domain/call-budgets.js';
import { logger } from '../logger.js';

/** A session in the way of the migration's lock request: what pg_stat_activity says of it, not its query. */
interface LockHolder {
  pid: number;
  user: string | null;
  applicationName: string | null;
  /** idle in transaction, active, …; null when the migration's role may not see it. */
  state: string | null;
  /** How long its transaction has been open, in whole seconds; null when unseen. */
  transactionOpenS: number | null;
}

/** A lock the migration's backend waited for, and the sessions it waited behind. */
export interface LockWait {
  /** The table (index, sequence) the lock is on, or the lock's type when it is not on one (a row's). */
  object: string;
  /** pg_locks' mode: ShareLock, AccessExclusiveLock, … */
  mode: string;
  blockedBy: LockHolder[];
}

/** Postgres' SQLSTATE when lock_timeout (or NOWAIT) gave up on a lock: lock_not_available. */
export function isLockTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55P03';
}

/** "ShareLock on subscribers, held by pid 4242 (user app, application "psql", idle in transaction, …)". */
export function describeLockWait(wait: LockWait | undefined): string {
  if (!wait)
    return 'a lock (which one, and who held it, went unseen: watching needs a second connection in the pool)';
  const holders = wait.blockedBy.map((h) => {
    const about = [
      h.user === null ? undefined : `user ${h.user}`,
      h.applicationName ? `application "${h.applicationName}"` : 'no application name',
      h.state ?? 'state not visible to this role',
      h.transactionOpenS === null ? undefined : `transaction open ${h.transactionOpenS} s`,
    ];
    return `pid ${h.pid} (${about.filter((part) => part !== undefined).join(', ')})`;
  });
  return `${wait.mode} on ${wait.object}, held by ${holders.join(' and ')}`;
}

interface BlockerRow {
  object: string;
  mode: string;
  pid: number;
  user: string | null;
  application_name: string | null;
  state: string | null;
  open_s: number | null;
}

/** The lock `pid` waits for now, if any, and who is in its way (holders, and requests queued before it). */
// biome-ignore lint/suspicious/noExplicitAny: any schema, as in the migrator.
async function lockWaitOf(db: Kysely<any>, pid: number): Promise<LockWait | undefined> {
  const { rows } = await sql<BlockerRow>`
    SELECT coalesce(w.relation::regclass::text, w.locktype) AS object, w.mode, b.pid, b.usename AS user,
           b.application_name, b.state,
           floor(extract(epoch FROM clock_timestamp() - b.xact_start))::int AS open_s
      FROM pg_locks w
      CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
      JOIN pg_stat_activity b ON b.pid = blocker.pid
     WHERE w.pid = ${pid} AND NOT w.granted
     ORDER BY b.xact_start NULLS LAST, b.pid`.execute(db);
  const first = rows[0];
  if (!first) return undefined;
  return {
    object: first.object,
    mode: first.mode,
    blockedBy: rows.map((r) => ({
      pid: r.pid,
      user: r.user,
      applicationName: r.application_name,
      state: r.state,
      transactionOpenS: r.open_s,
    })),
  };
}

/**
 * One run's lock waits: `bound` sets lock_timeout for the transaction it is given (SET LOCAL) and starts
 * polling that backend's waits from another connection of `db`'s pool, keeping the last one seen. A pool
 * with no connection to spare leaves the watch blind (pg-pool gives up after its connection timeout, or the
 * run ends first); the run itself is bounded all the same.
 */
export class LockWaitWatch {
  readonly #stopped = new AbortController();
  #polling: Promise<void> | undefined;
  #pid: number | undefined;
  #lastWait: LockWait | undefined;

  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: see lockWaitOf().
    private readonly db: Kysely<any>,
    private readonly bounds: MigrationLockBounds,
  ) {}

  /** Bounds the lock waits of `trx`'s transaction, and watches its backend. */
  // biome-ignore lint/suspicious/noExplicitAny: see lockWaitOf().
  async bound(trx: Kysely<any>): Promise<void> {
    const lockTimeout = String(this.bounds.lockMs);
    const { rows } = await sql<{ pid: number }>`
      SELECT pg_backend_pid() AS pid, set_config('lock_timeout', ${lockTimeout}, true)`.execute(trx);
    this.#pid = rows[0]?.pid;
    this.#polling ??= this.#poll();
  }

  /** Stops watching; returns the last lock wait seen. */
  async stop(): Promise<LockWait | undefined> {
    this.#stopped.abort();
    await this.#polling;
    return this.#lastWait;
  }

  async #poll(): Promise<void> {
    const { signal } = this.#stopped;
    // A few looks per wait, so the last one before lock_timeout fires is seen.
    const everyMs = Math.min(500, Math.max(25, this.bounds.lockMs / 4));
    try {
      await this.db.connection().execute(async (watcher) => {
        while (!signal.aborted) {
          const wait = this.#pid === undefined ? undefined : await lockWaitOf(watcher, this.#pid);
          if (wait) this.#lastWait = wait;
          await sleep(everyMs, undefined, { signal }).catch(() => {});
        }
      });
    } catch (error) {
      logger.debug("could not watch the migration's lock waits; it runs without", { error });
    }
  }
}
