// Lambda the deploy runs (CDK trigger) before new code serves traffic: applies pending migrations and
// returns what it did. Any failure is thrown, which fails the trigger and rolls the deploy back.
import { loadLambdaConfig } from '../adapters/secrets.js';
import { MigrationBlocked, MigrationFailed, migrateToLatest, migrationStatus } from '../db/migrator.js';
import { logger } from '../logger.js';
import { lambdaDatabase } from '../wiring/database.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';

export interface MigrationSummary {
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** The newest migration now in the database. */
  latest: string | null;
  durationMs: number;
}

const database = onColdStart(async () => {
  const config = await loadLambdaConfig('migrate');
  // A migration may rewrite a table: its statements get most of the Lambda's 5 minutes (DB_BOUNDS).
  return (await lambdaDatabase(config, 'migrate')).db;
});

export const handler = lambdaHandler(async (): Promise<MigrationSummary> => {
  const started = performance.now();
  const db = await database();
  // What this throws is the reason the deploy shows (the trigger's error message): for a migration that a
  // held table stopped, which lock it wanted and who held it (MigrationBlocked).
  const applied = await migrateToLatest(db).catch((error: unknown) => {
    if (error instanceof MigrationFailed)
      logger.error('migration failed', {
        migration: error.migrationName,
        error,
        lockWait: error instanceof MigrationBlocked ? error.wait : undefined,
      });
    throw error;
  });
  const executed = (await migrationStatus(db)).filter((m) => m.executedAt !== null);
  const summary = {
    applied,
    latest: executed.at(-1)?.name ?? null,
    durationMs: Math.round(performance.now() - started),
  };
  logger.info('migrations done', { ...summary });
  return summary;
});
