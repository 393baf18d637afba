// Integration-test helper: each worker gets its own clone of the migrated template database, and every
// test starts from empty tables.
import pg from 'pg';
import { afterAll, beforeEach, inject } from 'vitest';
import { createDb, type Db } from '../../src/db/connection.js';
import { APP_TABLES } from '../../src/db/schema.js';

let shared: { db: Db; url: string } | undefined;

function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates (once per worker) and returns a database cloned from the migrated template. */
async function workerDatabaseUrl(): Promise<string> {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDatabase');
  const name = `${template}_w${process.env.VITEST_POOL_ID ?? '0'}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  return databaseUrl(adminUrl, name);
}

/** A fresh, empty database name on the test server (for migration tests that need no schema at all). */
export async function createEmptyDatabase(suffix: string): Promise<string> {
  const adminUrl = inject('adminUrl');
  const name = `${inject('templateDatabase')}_${suffix}_${process.env.VITEST_POOL_ID ?? '0'}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return databaseUrl(adminUrl, name);
}

async function truncateAll(db: Db): Promise<void> {
  const { sql } = await import('kysely');
  await sql`TRUNCATE ${sql.join(APP_TABLES.map((t) => sql.table(t)))} RESTART IDENTITY CASCADE`.execute(db);
}

/**
 * Use in a describe block or at file level: returns a getter for the worker's database and empties every
 * application table before each test.
 */
export function useTestDb(): { db: () => Db; url: () => string } {
  beforeEach(async () => {
    if (!shared) {
      const url = await workerDatabaseUrl();
      shared = { url, db: createDb({ connectionString: url, max: 5 }) };
    }
    await truncateAll(shared.db);
  });
  afterAll(async () => {
    await shared?.db.destroy();
    shared = undefined;
  });
  return {
    db: () => {
      if (!shared) throw new Error('useTestDb(): the database is ready only inside tests and hooks');
      return shared.db;
    },
    url: () => {
      if (!shared) throw new Error('useTestDb(): the database is ready only inside tests and hooks');
      return shared.url;
    },
  };
}

/** Deliveries with Twilio's latest status of their message (message_statuses), joined as the listing does. */
export function deliveriesWithStatus(db: Db) {
  return db
    .selectFrom('deliveries')
    .leftJoin('message_statuses as m', 'm.message_sid', 'deliveries.message_sid')
    .selectAll('deliveries')
    .select(['m.status as delivery_status', 'm.error_code as status_error_code']);
}

/** Sets a message's latest status outright: what earlier callbacks would have left (test setup). */
export async function setMessageStatus(
  db: Db,
  messageSid: string,
  status: string,
  errorCode: number | null = null,
): Promise<void> {
  await db
    .insertInto('message_statuses')
    .values({ message_sid: messageSid, status, error_code: errorCode })
    .onConflict((oc) => oc.column('message_sid').doUpdateSet({ status, error_code: errorCode }))
    .execute();
}
