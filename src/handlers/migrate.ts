// Lambda the deploy runs (CDK trigger) before new code serves traffic: applies pending migrations and
// returns what it did. Any failure is thrown, which fails the trigger and rolls the deploy back.
import { loadRuntimeConfig } from '../adapters/secrets.js';
import { createDb } from '../db/connection.js';
import { MigrationFailed, migrateToLatest, migrationStatus } from '../db/migrator.js';
import { logger } from '../logger.js';
import { onColdStart } from './cold-start.js';

export interface MigrationSummary {
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** The newest migration now in the database. */
  latest: string | null;
  durationMs: number;
}

// Once per cold start: the database URL comes from the RDS secret named by DB_SECRET_ARN.
const database = onColdStart(async () => {
  const config = await loadRuntimeConfig(process.env, { require: ['DATABASE_URL'] });
  return createDb({
    connectionString: config.DATABASE_URL ?? '',
    ssl: config.DATABASE_SSL,
    max: 1,
    // A migration may rewrite a table; the Lambda itself stops at 5 minutes.
    statementTimeoutMs: 270_000,
    applicationName: 'daily-positivity-migrate',
  });
});

export const handler = async (): Promise<MigrationSummary> => {
  const started = performance.now();
  const db = await database();
  let applied: string[];
  try {
    applied = await migrateToLatest(db);
  } catch (error) {
    if (error instanceof MigrationFailed) {
      logger.error('migration failed', { migration: error.migrationName, reason: error.message });
    }
    throw error;
  }
  const executed = (await migrationStatus(db)).filter((m) => m.executedAt !== null);
  const summary: MigrationSummary = {
    applied,
    latest: executed.at(-1)?.name ?? null,
    durationMs: Math.round(performance.now() - started),
  };
  logger.info('migrations done', { ...summary });
  return summary;
};
