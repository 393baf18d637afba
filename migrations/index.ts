// Every migration, imported statically so bundlers (the Lambda build) include them. Append new ones here;
// names sort in the order they run.
import type { Migration, MigrationProvider } from 'kysely';
import * as initialSchema from './2026-11-25T1200_initial_schema.js';
import * as retentionIndexes from './2026-11-25T1350_retention_indexes.js';

export const migrations: Record<string, Migration> = {
  '2026-11-25T1200_initial_schema': initialSchema,
  '2026-11-25T1350_retention_indexes': retentionIndexes,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
