// The Lambdas' database pool, one per cold start. Handlers import only the wiring modules they use, so a
// bundle carries only the adapters its Lambda calls (lib/lambda-bundling.ts).
import type pg from 'pg';
import { type Config, ConfigError } from '../../config.js';
import { createPool, type Db, dbOnPool } from '../../db/connection.js';

export function databaseFor(config: Config, component: string, max = 2): { db: Db; pool: pg.Pool } {
  if (!config.DATABASE_URL) throw new ConfigError(['DATABASE_URL: required here (missing)']);
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    ssl: config.DATABASE_SSL,
    max,
    statementTimeoutMs: component === 'planner' ? 120_000 : 15_000,
    applicationName: `daily-positivity-${component}`,
  });
  return { db: dbOnPool(pool), pool };
}
