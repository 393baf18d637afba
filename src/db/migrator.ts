// Applies, reverts and lists the migrations of migrations/index.ts on a database another release may have
// migrated: a later one, when a rollback deploys this release onto its schema (DEPLOYMENT.md, Rollback), or
// an earlier one that applied a migration under the name it had before it was renamed (Upgrades).
import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { logger } from '../logger.js';

export class MigrationFailed extends Error {
  constructor(
    readonly migrationName: string | undefined,
    override readonly cause: unknown,
  ) {
    super(
      `migration ${migrationName ?? '(unknown)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'MigrationFailed';
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
// biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
async function adoptRenamed(db: Kysely<any>, applied: string[]): Promise<string[]> {
  const pending = Object.entries(RENAMED).filter(
    ([was, now]) => applied.includes(was) && !applied.includes(now),
  );
  if (pending.length === 0) return applied;
  const adopted = await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(KYSELY_MIGRATION_LOCK)}::bigint)`.execute(trx);
    const done: string[] = [];
    for (const [was, now] of pending) {
      const renamed = await sql`UPDATE kysely_migration SET name = ${now} WHERE name = ${was}`.execute(trx);
      if (!renamed.numAffectedRows) continue; // another migrator was first
      await migrations[now]?.up(trx).catch((error: unknown) => {
        throw new MigrationFailed(now, error);
      });
      done.push(`${was} → ${now}`);
    }
    return done;
  });
  if (adopted.length > 0)
    logger.warn('migrations applied under an earlier name renamed and applied again', { adopted });
  return appliedNames(db);
}

/** The later release's migrations the database has applied, by name (see fromLaterRelease). */
function laterThanOurs(applied: string[]): string[] {
  const ours = Object.keys(migrations).sort();
  const last = ours.at(-1) ?? '';
  return applied.filter((name) => !ours.includes(name) && !(name in RENAMED) && name > last);
}

/** A migrator for this database; `adopt` first records migrations applied under an earlier name (RENAMED). */
// biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
async function migrator(db: Kysely<any>, adopt = false): Promise<{ migrator: Migrator; later: string[] }> {
  const applied = await appliedNames(db);
  const later = laterThanOurs(adopt ? await adoptRenamed(db, applied) : applied);
  // Kysely refuses a database with an applied migration its provider lacks; a later release's are listed as
  // applied, never run. An unknown one among ours (removed or renamed) is still refused.
  const known: Record<string, Migration> = { ...migrations };
  for (const name of later) known[name] = fromLaterRelease;
  // Kysely runs each migration in its own transaction on Postgres, so a failure leaves the previous state.
  return { migrator: new Migrator({ db, provider: { getMigrations: async () => known } }), later };
}

function check(result: MigrationResultSet): string[] {
  const failed = result.results?.find((r) => r.status === 'Error');
  if (result.error) throw new MigrationFailed(failed?.migrationName, result.error);
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Applies every pending migration; returns the names applied. */
// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { migrator: m, later } = await migrator(db, true);
  if (later.length > 0)
    logger.warn('the database has migrations of a later release; this release runs on its schema', { later });
  return check(await m.migrateToLatest());
}

/** Reverts the latest applied migration; returns its name (empty when none was applied). */
// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrateDown(db: Kysely<any>): Promise<string[]> {
  return check(await (await migrator(db, true)).migrator.migrateDown());
}

// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrationStatus(db: Kysely<any>) {
  const all = await (await migrator(db)).migrator.getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
