// Applies, reverts and lists the migrations of migrations/index.ts on a database another release may have
// migrated: a later one, when a rollback deploys this release onto its schema (DEPLOYMENT.md, Rollback).
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

/** The later release's migrations the database has applied, by name (see fromLaterRelease). */
function laterThanOurs(applied: string[]): string[] {
  const ours = Object.keys(migrations).sort();
  const last = ours.at(-1) ?? '';
  return applied.filter((name) => !ours.includes(name) && name > last);
}

// biome-ignore lint/suspicious/noExplicitAny: see appliedNames().
async function migrator(db: Kysely<any>): Promise<{ migrator: Migrator; later: string[] }> {
  const later = laterThanOurs(await appliedNames(db));
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
  const { migrator: m, later } = await migrator(db);
  if (later.length > 0)
    logger.warn('the database has migrations of a later release; this release runs on its schema', { later });
  return check(await m.migrateToLatest());
}

/** Reverts the latest applied migration; returns its name (empty when none was applied). */
// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrateDown(db: Kysely<any>): Promise<string[]> {
  return check(await (await migrator(db)).migrator.migrateDown());
}

// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrationStatus(db: Kysely<any>) {
  const all = await (await migrator(db)).migrator.getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
