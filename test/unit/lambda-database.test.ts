// The Lambdas' database pool as src/wiring/database.ts builds it (no connection is opened): its size is the
// one the capacity check counts, and DATABASE_HOST (RDS Proxy) replaces the secret's host, nothing else.
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type DatabaseCredentials, fixedCredentials } from '../../src/adapters/credentials.js';
import { LAMBDA_NEEDS, type LambdaName } from '../../src/config.js';
import { concurrencyPlan, OTHER_DB_CONNECTIONS } from '../../src/domain/capacity.js';
import { lambdaDatabase } from '../../src/wiring/database.js';

const opened: pg.Pool[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((pool) => pool.end()));
});

/** The RDS secret's content as src/config.ts parses it: the URL names the instance, the password apart. */
const RDS: DatabaseCredentials = {
  url: 'postgres://app@instance.abc123.us-east-1.rds.amazonaws.com:5432/positivity',
  password: 'from-the-secret',
};

async function poolOf(name: LambdaName, databaseHost?: string): Promise<pg.Pool> {
  const { pool } = await lambdaDatabase(
    { DATABASE_SSL: false, DATABASE_HOST: databaseHost, credentials: { db: fixedCredentials(RDS) } },
    name,
  );
  opened.push(pool);
  return pool;
}

describe('pool size', () => {
  it('is, for every Lambda, what the capacity check multiplies its concurrency by', async () => {
    // Enough quota to reserve every function's need: the worst case is then Σ need × pool size.
    const plan = concurrencyPlan({ messagesPerSecond: 3, accountConcurrency: 1000 });
    expect(plan.mode).toBe('reserved');
    let worst = OTHER_DB_CONNECTIONS;
    for (const name of Object.keys(LAMBDA_NEEDS) as LambdaName[]) {
      const { max } = (await poolOf(name)).options;
      expect(max, name).toBeGreaterThanOrEqual(1);
      worst += plan.need[name] * (max ?? Number.NaN);
    }
    expect(worst).toBe(plan.worstCaseConnections);
  });

  it('gives the sender more than one connection: it shares its pool with the Postgres rate limiter', async () => {
    expect((await poolOf('sender')).options.max).toBe(2);
  });
});

describe('DATABASE_HOST', () => {
  it('replaces the secret’s host and keeps its user, port and database', async () => {
    const proxy = 'daily-positivity-prod.proxy-abc123.us-east-1.rds.amazonaws.com';
    expect((await poolOf('cleanup', proxy)).options).toMatchObject({
      host: proxy,
      port: 5432,
      user: 'app',
      database: 'positivity',
    });
  });

  it('leaves the secret’s host when unset', async () => {
    expect((await poolOf('cleanup')).options).toMatchObject({
      host: 'instance.abc123.us-east-1.rds.amazonaws.com',
    });
  });
});
