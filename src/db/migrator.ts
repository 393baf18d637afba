// Applies, reverts and lists the migrations of migrations/index.ts on a database another release may have
// migrated: a later one, when a rollback deploys this release onto its schema (DEPLOYMENT.md, Rollback), or
// an earlier one that applied a migration under the name it had before it was renamed (Upgrades).
// Every run bounds its lock waits (src/db/migration-locks.ts): a migration waits at most
// MIGRATION_LOCKS.lockMs for any lock, so the live tables never queue behind it for longer, and a run stopped
// so is tried again.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { MIGRATION_LOCKS, type MigrationLockBounds } from '../domain/call-budgets.js';
import { logger } from '../logger.js';
import { describeLockWait, isLockTimeout, type LockWait, LockWaitWatch } from './migration-locks.js';

export class MigrationFailed extends Error {
  constructor(
    readonly migrationName: string | undefined,
    override readonly cause: unknown,
    reason: string = cause instanceof Error ? cause.message : String(cause),
  ) {
    super(`migration ${migrationName ?? '(unknown)'} failed: ${reason}`);
    this.name = 'MigrationFailed';
  }
}

/** Every attempt of a run gave up waiting for a lock (MIGRATION_LOCKS) and rolled back: nothing changed. */
export class MigrationBlocked extends MigrationFailed {
  constructor(
    migrationName: string | undefined,
    cause: unknown,
    /** The lock it last waited for, and who held it (undefined when the watch saw none). */
    readonly wait: LockWait | undefined,
    bounds: MigrationLockBounds,
  ) {
    super(
      migrationName,
      cause,
      `gave up after ${bounds.attempts} attempts of ${bounds.lockMs} ms ` +
        `waiting for ${describeLockWait(wait)}; ` +
        'nothing changed: end that session or let it finish, then run the migrations again',
    );
    this.name = 'MigrationBlocked';
  }
}

/** The names of the migrations the database has applied (none before the first run). */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema, like the migrations themselves.
async function appliedNames(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ present: boolean }>`
    SELECT to_regclass('kysely_migration') IS NOT NULL AS present`.execute(db);
  if (!rows[0]?.present) return [];
  const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
  return applied.rows.map((r) => r.name);
}

/**
 * A migration the database has applied and this release does not have, named after all of its own: a later
 * release applied it. Migrations are backward compatible, so this release runs on that schema and leaves it
 * as it is; only the release that has the migration can revert it.
 */
const fromLaterRelease: Migration = {
  up: async () => {
    throw new Error("it belongs to a later release than this one; apply it with that release's code");
  },
  down: async () => {
    throw new Error("it belongs to a later release than this one; revert it with that release's code");
  },
};

/**
 * Migrations renamed after they had landed on main: the name a stage deployed then recorded → the name now.
 * Landed migrations are frozen, names included; these broke the rule, and a database that has one under its
 * old name is refused by Kysely. Each one's current `up` only replaces functions (CREATE OR REPLACE), so it
 * runs again on what the earlier version left, and the database ends as a fresh one.
 */
const RENAMED: Readonly<Record<string, string>> = {
  // On main at 7f19bca and 714ba88; renamed by 5b0184f, which also changed what it does.
  '2026-12-01T1700_status_callbacks_async_commit': '2026-12-01T1700_status_callback_hot_path',
};

/** Kysely's migration lock on Postgres (its PostgresAdapter's advisory lock id): one migrator at a time. */
const KYSELY_MIGRATION_LOCK = '3853314791062309107';

/**
 * Records each migration applied under an earlier name (RENAMED) by its name now, and runs its current `up`
 * again, in one transaction under the migrator's lock. Returns the applied names as they then are.
 */
async function adoptRenamed(
  // biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
  db: Kysely<any>,
  applied: string[],
  locks: MigrationLockBounds,
): Promise<string[]> {
  const pending = Object.entries(RENAMED).filter(
    ([was, now]) => applied.includes(was) && !applied.includes(now),
  );
  if (pending.length === 0) return applied;
  const adopted = await boundingLockWaits(db, locks, (watch) =>
    db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${sql.lit(KYSELY_MIGRATION_LOCK)}::bigint)`.execute(trx);
      // Bounded once the migrator's lock is held: another migrator is waited for, a held table is not.
      await watch.bound(trx);
      const done: string[] = [];
      for (const [was, now] of pending) {
        const renamed = await sql`UPDATE kysely_migration SET name = ${now} WHERE name = ${was}`
          .execute(trx)
          .catch((error: unknown) => {
            throw new MigrationFailed(now, error);
          });
        if (!renamed.numAffectedRows) continue; // another migrator was first
        await migrations[now]?.up(trx).catch((error: unknown) => {
          throw new MigrationFailed(now, error);
        });
        done.push(`${was} → ${now}`);
      }
      return done;
    }),
  );
  if (adopted.length > 0)
    logger.warn('migrations applied under an earlier name renamed and applied again', { adopted });
  return appliedNames(db);
}

/**
 * Runs `attempt` — one transaction of migrations, each bounding its lock waits with the watch — and again,
 * after a pause, while a lock wait stops it, at most `locks.attempts` times in all. Each stopped attempt
 * rolled back whole, giving its locks back, so nothing waits behind the migration during the pause.
 */
async function boundingLockWaits<T>(
  // biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
  db: Kysely<any>,
  locks: MigrationLockBounds,
  attempt: (watch: LockWaitWatch) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    const watch = new LockWaitWatch(db, locks);
    const outcome = await attempt(watch).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const wait = await watch.stop();
    if (outcome.ok) return outcome.value;
    const { error } = outcome;
    if (!(error instanceof MigrationFailed) || !isLockTimeout(error.cause)) throw error;
    if (n >= locks.attempts) throw new MigrationBlocked(error.migrationName, error.cause, wait, locks);
    const pauseMs = locks.backoffMs * 2 ** (n - 1);
    logger.warn('a migration gave up waiting for a lock; trying again', {
      migration: error.migrationName,
      attempt: n,
      pauseMs,
      waitedFor: describeLockWait(wait),
    });
    await sleep(pauseMs);
  }
}

/** The later release's migrations the database has applied, by name (see fromLaterRelease). */
function laterThanOurs(applied: string[]): string[] {
  const ours = Object.keys(migrations).sort();
  const last = ours.at(-1) ?? '';
  return applied.filter((name) => !ours.includes(name) && !(name in RENAMED) && name > last);
}

/**
 * This release's migrations and the later release's the database has applied (see fromLaterRelease).
 * With `adoptWith` (lock bounds), first records migrations applied under an earlier name (RENAMED).
 */
async function knownMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
  db: Kysely<any>,
  adoptWith?: MigrationLockBounds,
): Promise<{ known: Record<string, Migration>; later: string[] }> {
  const applied = await appliedNames(db);
  const later = laterThanOurs(adoptWith ? await adoptRenamed(db, applied, adoptWith) : applied);
  // Kysely refuses a database with an applied migration its provider lacks; a later release's are listed as
  // applied, never run. An unknown one among ours (removed or renamed) is still refused.
  const known: Record<string, Migration> = { ...migrations };
  for (const name of later) known[name] = fromLaterRelease;
  return { known, later };
}

/**
 * A Kysely migrator over `known`, each migration bounding its lock waits first. Kysely runs a Postgres
 * run's migrations in one transaction, so a failure leaves the previous state.
 */
// biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
function boundMigrator(db: Kysely<any>, known: Record<string, Migration>, watch: LockWaitWatch): Migrator {
  const bounded = Object.fromEntries(
    Object.entries(known).map(([name, migration]): [string, Migration] => {
      const { down } = migration;
      return [
        name,
        {
          up: async (trx) => {
            await watch.bound(trx);
            await migration.up(trx);
          },
          down:
            down &&
            (async (trx) => {
              await watch.bound(trx);
              await down(trx);
            }),
        },
      ];
    }),
  );
  return new Migrator({ db, provider: { getMigrations: async () => bounded } });
}

function check(result: MigrationResultSet): string[] {
  const failed = result.results?.find((r) => r.status === 'Error');
  if (result.error) throw new MigrationFailed(failed?.migrationName, result.error);
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Applies every pending migration; returns the names applied. `locks`: see MIGRATION_LOCKS. */
export async function migrateToLatest(
  // biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
  db: Kysely<any>,
  locks: MigrationLockBounds = MIGRATION_LOCKS,
): Promise<string[]> {
  const { known, later } = await knownMigrations(db, locks);
  if (later.length > 0)
    logger.warn('the database has migrations of a later release; this release runs on its schema', { later });
  return boundingLockWaits(db, locks, async (watch) =>
    check(await boundMigrator(db, known, watch).migrateToLatest()),
  );
}

/** Reverts the latest applied migration; returns its name (empty when none was applied). */
export async function migrateDown(
  // biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
  db: Kysely<any>,
  locks: MigrationLockBounds = MIGRATION_LOCKS,
): Promise<string[]> {
  const { known } = await knownMigrations(db, locks);
  return boundingLockWaits(db, locks, async (watch) =>
    check(await boundMigrator(db, known, watch).migrateDown()),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
export async function migrationStatus(db: Kysely<any>) {
  const { known } = await knownMigrations(db);
  const all = await new Migrator({ db, provider: { getMigrations: async () => known } }).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
