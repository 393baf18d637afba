// The migrate step on databases other releases left (DEPLOYMENT.md, Upgrades and Rollback): a rollback deploys
// this release onto a database a later release migrated further; an upgrade finds a migration applied under
// the name it had on main before it was renamed.
import { Kysely, type Migration, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { migrateDown, migrateToLatest, migrationStatus } from '../../src/db/migrator.js';
import * as asyncCommit7f19bca from '../fixtures/renamed-migrations/2026-12-01T1700_status_callbacks_async_commit.7f19bca.js';
import * as asyncCommit714ba88 from '../fixtures/renamed-migrations/2026-12-01T1700_status_callbacks_async_commit.714ba88.js';
import { createEmptyDatabase } from '../support/db.js';
import { schemaOf } from '../support/schema.js';

const names = Object.keys(migrations);

/** A migration this release does not have, named as a later release would name it. */
const LATER = '2099-01-01T0000_a_later_release';
const later: Migration = {
  up: async (db) => {
    await sql`ALTER TABLE subscribers ADD COLUMN later_release_column text`.execute(db);
  },
  down: async (db) => {
    await sql`ALTER TABLE subscribers DROP COLUMN later_release_column`.execute(db);
  },
};

const opened: Kysely<unknown>[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.destroy()));
});

async function emptyDatabase(suffix: string): Promise<Kysely<unknown>> {
  const url = await createEmptyDatabase(suffix);
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
  });
  opened.push(db);
  return db;
}

/** Migrates `db` as another release would: with its own set of migrations. */
async function migrateAsRelease(db: Kysely<unknown>, release: Record<string, Migration>): Promise<void> {
  const result = await new Migrator({
    db,
    provider: { getMigrations: async () => release },
  }).migrateToLatest();
  if (result.error) throw result.error;
}

const laterColumn = async (db: Kysely<unknown>) =>
  (
    await sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.columns
                             WHERE table_name = 'subscribers' AND column_name = 'later_release_column'`.execute(
      db,
    )
  ).rows[0]?.n;

describe('a database a later release migrated further (a rollback deploys this release onto it)', () => {
  it('applies nothing, lists the later migration as applied, and leaves its schema', async () => {
    const db = await emptyDatabase('later_release');
    await migrateAsRelease(db, { ...migrations, [LATER]: later });

    expect(await migrateToLatest(db)).toEqual([]);

    const status = await migrationStatus(db);
    expect(status.map((m) => m.name)).toEqual([...names, LATER]);
    expect(status.every((m) => m.executedAt instanceof Date)).toBe(true);
    expect(await laterColumn(db)).toBe(1);
  });

  it('refuses to revert a migration it does not have, and reverts nothing', async () => {
    const db = await emptyDatabase('later_release_down');
    await migrateAsRelease(db, { ...migrations, [LATER]: later });

    await expect(migrateDown(db)).rejects.toThrow(
      `migration ${LATER} failed: it belongs to a later release than this one; revert it with that release's code`,
    );

    expect((await migrationStatus(db)).filter((m) => m.executedAt).map((m) => m.name)).toEqual([
      ...names,
      LATER,
    ]);
    expect(await laterColumn(db)).toBe(1);
  });

  it('still refuses an unknown migration that sorts among its own: a removed or renamed one, not a later one', async () => {
    const db = await emptyDatabase('unknown_between');
    const removed = `${names[1]}_removed`;
    await migrateAsRelease(db, { ...migrations, [removed]: later });

    await expect(migrateToLatest(db)).rejects.toThrow(`previously executed migration ${removed} is missing`);
  });
});

/**
 * Every migration that was on main under another name than today's, as it was there (test/fixtures): a stage
 * deployed at that commit recorded it under that name and ran that version of it.
 */
const RENAMED_ON_MAIN: [commit: string, name: string, migration: Migration, now: string][] = [
  [
    '7f19bca',
    '2026-12-01T1700_status_callbacks_async_commit',
    asyncCommit7f19bca,
    '2026-12-01T1700_status_callback_hot_path',
  ],
  [
    '714ba88',
    '2026-12-01T1700_status_callbacks_async_commit',
    asyncCommit714ba88,
    '2026-12-01T1700_status_callback_hot_path',
  ],
];

describe('a database migrated by a release that knew a migration by its earlier name', () => {
  it.each(RENAMED_ON_MAIN)(
    'upgrades from %s (%s) to the schema a fresh database gets',
    async (commit, name, migration, now) => {
      const fresh = await emptyDatabase('renamed_fresh');
      await migrateToLatest(fresh);
      const db = await emptyDatabase(`renamed_${commit}`);
      const before = Object.fromEntries(Object.entries(migrations).filter(([n]) => n < now));
      await migrateAsRelease(db, { ...before, [name]: migration });

      expect(await migrateToLatest(db)).toEqual(names.filter((n) => n > now));

      expect((await migrationStatus(db)).filter((m) => m.executedAt).map((m) => m.name)).toEqual(names);
      expect(await schemaOf(db)).toEqual(await schemaOf(fresh));
    },
  );

  it.each(RENAMED_ON_MAIN)(
    'reverts the migration from %s by the name it has now',
    async (commit, name, migration, now) => {
      const db = await emptyDatabase(`renamed_down_${commit}`);
      const before = Object.fromEntries(Object.entries(migrations).filter(([n]) => n < now));
      await migrateAsRelease(db, { ...before, [name]: migration });
      const previous = await emptyDatabase('renamed_previous');
      await migrateAsRelease(previous, before);

      // The release it ran ended at the renamed migration; later ones were never applied there.
      expect(await migrateDown(db)).toEqual([now]);

      expect(await schemaOf(db)).toEqual(await schemaOf(previous));
    },
  );
});
