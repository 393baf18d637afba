// The deploy-time migrate Lambda, as AWS runs it: database URL from the RDS secret (Secrets Manager mocked),
// migrations applied to a real Postgres, a summary returned — and a failure thrown so the deploy fails.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { migrations } from '../../migrations/index.js';
import type { MigrationSummary } from '../../src/handlers/migrate.js';
import { createEmptyDatabase } from '../support/db.js';
import { rdsSecretFor } from '../support/rds-secret.js';

const DB_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:rds-db-AbCdEf';
const sm = mockClient(SecretsManagerClient);

async function loadHandler(databaseUrl: string) {
  sm.on(GetSecretValueCommand, { SecretId: DB_SECRET_ARN }).resolves({
    SecretString: JSON.stringify(rdsSecretFor(databaseUrl)),
  });
  vi.resetModules();
  vi.stubEnv('DATABASE_URL', '');
  vi.stubEnv('DB_SECRET_ARN', DB_SECRET_ARN);
  vi.stubEnv('DATABASE_SSL', 'false');
  const module = await import('../../src/handlers/migrate.js');
  return module.handler as () => Promise<MigrationSummary>;
}

function connect(url: string) {
  return new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
  });
}

describe('migrate Lambda', () => {
  beforeEach(() => sm.reset());
  afterEach(() => vi.unstubAllEnvs());

  it('applies every pending migration, then reports nothing to do on the next deploy', async () => {
    const url = await createEmptyDatabase('migrate_handler');
    const handler = await loadHandler(url);
    const names = Object.keys(migrations);

    const first = await handler();
    expect(first.applied).toEqual(names);
    expect(first.latest).toBe(names.at(-1));
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      DB_SECRET_ARN,
    ]);

    const second = await handler();
    expect(second).toMatchObject({ applied: [], latest: names.at(-1) });

    const db = connect(url);
    try {
      const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(
        db,
      );
      expect(rows.map((r) => r.name)).toEqual(names);
    } finally {
      await db.destroy();
    }
  });

  it('succeeds on a database a later release migrated further (a rollback deploy), applying nothing', async () => {
    const url = await createEmptyDatabase('migrate_handler_rollback');
    const db = connect(url);
    try {
      const later = '2099-01-01T0000_a_later_release';
      const laterRelease = { ...migrations, [later]: { up: async () => {} } };
      const result = await new Migrator({
        db,
        provider: { getMigrations: async () => laterRelease },
      }).migrateToLatest();
      expect(result.error).toBeUndefined();
      const handler = await loadHandler(url);

      expect(await handler()).toMatchObject({ applied: [], latest: later });
    } finally {
      await db.destroy();
    }
  });

  it('fails the deploy naming the open transaction that kept a migration waiting for its lock', async () => {
    // Prepare: short lock bounds in place of the deployed ones; a database one migration behind, and a
    // session that wrote to the table the last migration indexes and left its transaction open.
    const locks = { lockMs: 300, attempts: 2, backoffMs: 100 };
    vi.doMock('../../src/domain/call-budgets.js', async (importOriginal) => ({
      ...(await importOriginal<object>()),
      MIGRATION_LOCKS: locks,
    }));
    const url = await createEmptyDatabase('migrate_handler_blocked');
    const db = connect(url);
    const names = Object.keys(migrations);
    const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name !== names.at(-1)));
    const holder = new pg.Client({ connectionString: url, application_name: 'dps-open-transaction' });
    let invoked: Promise<unknown> | undefined;
    try {
      const result = await new Migrator({
        db,
        provider: { getMigrations: async () => before },
      }).migrateToLatest();
      expect(result.error).toBeUndefined();
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query(
        `INSERT INTO subscribers (phone, status, time_zone) VALUES ('+12125550100', 'active', 'UTC')`,
      );
      const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const handler = await loadHandler(url);

      // Act: the deploy's trigger invokes the Lambda; what it throws is the reason CloudFormation shows.
      invoked = handler();
      const outcome = await Promise.race([
        invoked.then(
          () => 'succeeded',
          (error: unknown) => error,
        ),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000)),
      ]);

      // Assess
      expect(outcome).toBeInstanceOf(Error);
      const message = (outcome as Error).message;
      expect(message).toMatch(
        new RegExp(
          `^migration ${names.at(-1)} failed: .*ShareLock on (public\\.)?subscribers.*pid ${rows[0]?.pid}`,
        ),
      );
      expect(message).toContain('dps-open-transaction');
      expect(message).not.toContain('+12125550100');
      const applied = await sql<{ n: number }>`SELECT count(*)::int AS n FROM kysely_migration`.execute(db);
      expect(applied.rows[0]?.n).toBe(names.length - 1);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.allSettled([invoked]);
      await holder.end();
      await db.destroy();
      vi.doUnmock('../../src/domain/call-budgets.js');
    }
  });

  it('throws (failing the deploy) when a migration fails, and leaves it unapplied', async () => {
    const url = await createEmptyDatabase('migrate_handler_fail');
    const db = connect(url);
    try {
      // A table in the way makes the first migration's CREATE TABLE fail.
      await sql`CREATE TABLE subscribers (id int)`.execute(db);
      const handler = await loadHandler(url);
      const first = Object.keys(migrations)[0];
      await expect(handler()).rejects.toThrow(new RegExp(`migration ${first} failed: .*subscribers`));
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM kysely_migration`.execute(db);
      expect(rows[0]?.n).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});
