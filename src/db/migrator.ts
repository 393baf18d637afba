import { type Kysely, type MigrationResultSet, Migrator } from 'kysely';
import { migrationProvider } from '../../migrations/index.js';

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

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema, like the migrations themselves.
function migrator(db: Kysely<any>): Migrator {
  // Kysely runs each migration in its own transaction on Postgres, so a failure leaves the previous state.
  return new Migrator({ db, provider: migrationProvider });
}

function check(result: MigrationResultSet): string[] {
  const failed = result.results?.find((r) => r.status === 'Error');
  if (result.error) throw new MigrationFailed(failed?.migrationName, result.error);
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Applies every pending migration; returns the names applied. */
// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return check(await migrator(db).migrateToLatest());
}

/** Reverts the latest applied migration; returns its name (empty when none was applied). */
// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrateDown(db: Kysely<any>): Promise<string[]> {
  return check(await migrator(db).migrateDown());
}

// biome-ignore lint/suspicious/noExplicitAny: see migrator().
export async function migrationStatus(db: Kysely<any>) {
  const all = await migrator(db).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
