// The webhooks' statements go out as named prepared statements (src/db/prepared.ts): parsed and planned
// once per connection, everything else unnamed as before, against a real Postgres.
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fixedCredentials } from '../../src/adapters/credentials.js';
import { createDb } from '../../src/db/connection.js';
import { namingStatements, preparedStatement } from '../../src/db/prepared.js';
import { lambdaDatabase } from '../../src/wiring/database.js';
import { useTestDb } from '../support/db.js';

const t = useTestDb();

/** One connection, so every statement below meets the same session's prepared statements. */
async function withOneConnection<T>(work: (db: ReturnType<typeof createDb>) => Promise<T>): Promise<T> {
  const db = createDb({ connectionString: t.url(), max: 1 });
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

const prepared = (db: ReturnType<typeof createDb>) =>
  sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements ORDER BY name`
    .execute(db)
    .then((r) => r.rows);

describe('named prepared statements', () => {
  it('a registered statement is prepared once per connection and answers like an unnamed one', async () => {
    const plusOne = preparedStatement('test_plus_one', 'SELECT $1::integer + 1 AS n');
    await withOneConnection(async (db) => {
      expect(await prepared(db)).toEqual([]);
      expect((await db.executeQuery<{ n: number }>(plusOne([1]))).rows).toEqual([{ n: 2 }]);
      expect((await db.executeQuery<{ n: number }>(plusOne([41]))).rows).toEqual([{ n: 42 }]);
      expect(await prepared(db)).toEqual([
        { name: 'test_plus_one', statement: 'SELECT $1::integer + 1 AS n' },
      ]);
      // Anything else stays unnamed: nothing more is kept on the session.
      await sql`SELECT ${1}::integer AS one`.execute(db);
      expect(await prepared(db)).toHaveLength(1);
    });
  });

  it('a registered statement still runs after the function it calls is replaced', async () => {
    await sql`CREATE OR REPLACE FUNCTION test_prepared_double(x integer) RETURNS integer
      LANGUAGE sql AS 'SELECT x * 2'`.execute(t.db());
    const double = preparedStatement('test_double', 'SELECT test_prepared_double($1::integer) AS n');
    await withOneConnection(async (db) => {
      expect((await db.executeQuery<{ n: number }>(double([2]))).rows).toEqual([{ n: 4 }]);
      await sql`CREATE OR REPLACE FUNCTION test_prepared_double(x integer) RETURNS integer
        LANGUAGE sql AS 'SELECT x * 3'`.execute(t.db());
      expect((await db.executeQuery<{ n: number }>(double([2]))).rows).toEqual([{ n: 6 }]);
    });
    await sql`DROP FUNCTION test_prepared_double(integer)`.execute(t.db());
  });

  it('a pooled connection reaches Kysely as the same client every time it is checked out', async () => {
    // Kysely keeps one connection object per client it is handed (a WeakMap keyed by the client): a new
    // wrapper on every checkout made it build and remember a new one for every query.
    const pool = new pg.Pool({ connectionString: t.url(), max: 1 });
    const naming = namingStatements(pool);
    try {
      const first = await naming.connect();
      first.release();
      const second = await naming.connect();
      second.release();
      expect(second).toBe(first);
      // A client released as broken is closed; the next checkout is a new connection and a new client.
      (await naming.connect()).release(true);
      const third = await naming.connect();
      const { rows } = await third.query('SELECT 1 AS one', []);
      third.release();
      expect(third).not.toBe(first);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await naming.end();
    }
  });

  it('behind RDS Proxy (DATABASE_HOST) the same statements go out unnamed: nothing for the proxy to pin', async () => {
    // A named statement is state of one database session; RDS Proxy keeps a client pinned to its database
    // connection for such state, and the capacity check counts on the proxy sharing its connections.
    const plusOne = preparedStatement('test_proxy_plus_one', 'SELECT $1::integer + 1 AS n');
    const url = new URL(t.url());
    for (const [host, expected] of [
      [undefined, ['test_proxy_plus_one']],
      [url.hostname, []],
    ] as const) {
      const { db } = await lambdaDatabase(
        { DATABASE_SSL: false, DATABASE_HOST: host, credentials: { db: fixedCredentials({ url: t.url() }) } },
        'cleanup', // one connection: the check below meets the session the statement ran on
      );
      try {
        expect((await db.executeQuery<{ n: number }>(plusOne([1]))).rows).toEqual([{ n: 2 }]);
        expect((await prepared(db)).map((p) => p.name)).toEqual(expected);
      } finally {
        await db.destroy();
      }
    }
  });

  it('a second registration of a name with other SQL is refused', () => {
    preparedStatement('test_twice', 'SELECT 1');
    expect(() => preparedStatement('test_twice', 'SELECT 2')).toThrow(/registered twice/);
    expect(() => preparedStatement('test_twice', 'SELECT 1')).not.toThrow();
  });
});
