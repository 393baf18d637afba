// The Lambdas' database pool, one per cold start, from the database secret. Handlers import only the wiring
// modules they use, so a bundle carries only the adapters its Lambda calls (lib/lambda-bundling.ts).
import type pg from 'pg';
import type { Credentials, DatabaseCredentials } from '../adapters/credentials.js';
import type { LambdaName, Settings } from '../config.js';
import { createPool, type Db, dbOnPool } from '../db/connection.js';
import { DB_BOUNDS, type DbBound, LAMBDA_TIMEOUT_MS } from '../domain/call-budgets.js';
import { DB_POOL_SIZE } from '../domain/database-pools.js';

/**
 * A pool on the database the credentials name (at DATABASE_HOST when set: RDS Proxy), DB_POOL_SIZE
 * connections per container, the figure the stack's capacity check counts. The password is re-read as it
 * rotates. Its timeouts are the Lambda's (DB_BOUNDS, src/domain/call-budgets.ts): connecting, a statement
 * (cancelled by Postgres), its answer (past which the client drops a connection that hangs), a lock wait
 * where one is set, and a transaction left idle by a Lambda stopped at its timeout.
 */
export async function lambdaDatabase(
  config: Pick<Settings, 'DATABASE_SSL' | 'DATABASE_HOST'> & {
    credentials: { db: Credentials<DatabaseCredentials> };
  },
  component: LambdaName,
): Promise<{ db: Db; pool: pg.Pool }> {
  const bounds: DbBound = DB_BOUNDS[component];
  const { db: credentials } = config.credentials;
  const { url, password } = await credentials.get();
  const pool = createPool({
    connectionString: config.DATABASE_HOST ? onHost(url, config.DATABASE_HOST) : url,
    // A URL that carries its password (DATABASE_URL) has nothing to rotate.
    credentials: password === undefined ? undefined : credentials,
    ssl: config.DATABASE_SSL,
    max: DB_POOL_SIZE[component],
    statementTimeoutMs: bounds.statementMs,
    queryTimeoutMs: bounds.queryMs,
    lockTimeoutMs: bounds.lockMs,
    connectTimeoutMs: bounds.connectMs,
    idleInTransactionMs: LAMBDA_TIMEOUT_MS[component],
    applicationName: `daily-positivity-${component}`,
  });
  // Named prepared statements are session state: RDS Proxy would pin each client to one database
  // connection, and the capacity check counts on the proxy sharing them. Behind it every statement goes
  // out unnamed (parsed and planned each time: more database CPU, no pinning).
  return { db: dbOnPool(pool, { namedStatements: !config.DATABASE_HOST }), pool };
}

/** The same database URL on another host (same user, port and database). */
function onHost(url: string, host: string): string {
  const u = new URL(url);
  u.hostname = host;
  return u.toString();
}
