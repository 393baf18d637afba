// Builds the Kysely instance. One pool per process; Lambdas keep it across invocations.
import { Kysely, PostgresDialect, type PostgresPool, type Transaction } from 'kysely';
import pg from 'pg';
import {
  type Credentials,
  type DatabaseCredentials,
  SecretUnavailable,
  withFreshCredentials,
} from '../adapters/credentials.js';
import { logger } from '../logger.js';
import { namingStatements } from './prepared.js';
import { gatingStatements, type RequestDeadline } from './request-deadline.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
export type DbOrTrx = Db | Trx;

const OID = { INT8: 20, NUMERIC: 1700, DATE: 1082 } as const;

/**
 * Type parsers for this app only (not pg's global defaults): DATE stays 'YYYY-MM-DD' so a subscriber's
 * local date is never shifted by the server's zone; counts (int8) and money (numeric) become numbers,
 * which is exact for every value this service stores.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === OID.DATE) return (v: string) => v;
    if (oid === OID.INT8 || oid === OID.NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export interface DbOptions {
  connectionString: string;
  /** Pool size; Lambdas use 1–2, the local server more. */
  max?: number;
  ssl?: boolean;
  statementTimeoutMs?: number;
  /**
   * How long the client waits for a statement's answer before it drops the connection (pg's query_timeout;
   * default: statementTimeoutMs + 1 s). statement_timeout is enforced by the server, so it ends a slow
   * statement but not a connection that hangs (a failover's dead socket): this does.
   */
  queryTimeoutMs?: number;
  /** lock_timeout: how long one statement may wait for one lock (default: no limit). */
  lockTimeoutMs?: number;
  /**
   * idle_in_transaction_session_timeout (default: none): a session left inside a transaction by a process
   * that was stopped (a Lambda's timeout) gives its locks back after this long.
   */
  idleInTransactionMs?: number;
  /** How long opening a connection may take (default 5 s). */
  connectTimeoutMs?: number;
  applicationName?: string;
  /**
   * Where the password comes from when it is not in the URL (AWS: the RDS secret). Read for each new
   * connection, so a rotated password is used once the cache expires, and re-read at once when Postgres
   * refuses the cached one (28P01).
   */
  credentials?: Credentials<DatabaseCredentials>;
}

/** Postgres refused the password: "password authentication failed for user …". */
const isPasswordRejected = (error: unknown): boolean =>
  (error as { code?: unknown } | null)?.code === '28P01';

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: () => void) => void;

/** What node-postgres rejects a statement with once query_timeout has passed without its answer. */
const QUERY_READ_TIMEOUT = 'Query read timeout';

/**
 * A client that drops its connection when a statement's answer does not come within query_timeout. pg
 * gives the caller the timeout but keeps waiting on the socket for that answer, and queues every later
 * statement of the client behind it: returned to the pool, a hung connection would fail each request that
 * gets it. Dropped, the pool discards it on release and the next checkout opens a fresh one.
 */
class HangDroppingClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    const dropIfHung = (error: unknown) => {
      if ((error as Error | null)?.message === QUERY_READ_TIMEOUT) this.connection.stream.destroy();
    };
    this.query = ((...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) result.catch(dropIfHung);
      return result;
    }) as typeof this.query;
  }
}

/** A pool that re-reads its credentials and connects once more when Postgres refuses the password. */
class CredentialedPool extends pg.Pool {
  constructor(
    { connectionString, ...config }: pg.PoolConfig,
    private readonly credentials: Credentials<DatabaseCredentials>,
  ) {
    // pg lets a connection string's (empty) password win over the `password` function: pass the parts.
    const url = new URL(connectionString ?? '');
    super({
      ...config,
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      database: decodeURIComponent(url.pathname.slice(1)),
      password: async () => (await credentials.get()).password ?? '',
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const connected = withFreshCredentials(this.credentials, isPasswordRejected, () => super.connect());
    if (!callback) return connected;
    connected.then(
      (client) => callback(undefined, client, () => client.release()),
      (error: Error) => callback(error, undefined, () => {}),
    );
    return undefined;
  }
}

export function createPool(options: DbOptions): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const config: pg.PoolConfig = {
    connectionString: options.connectionString,
    max: options.max ?? 10,
    ssl: options.ssl ? { rejectUnauthorized: true } : undefined,
    types: types as pg.CustomTypesConfig,
    statement_timeout: statementTimeoutMs,
    query_timeout: options.queryTimeoutMs ?? statementTimeoutMs + 1_000,
    lock_timeout: options.lockTimeoutMs,
    idle_in_transaction_session_timeout: options.idleInTransactionMs,
    Client: HangDroppingClient,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'daily-positivity',
  };
  const pool = options.credentials ? new CredentialedPool(config, options.credentials) : new pg.Pool(config);
  // A client that loses its server (failover, restart, admin kill) emits 'error'. While it sits idle the
  // pool listens and drops it; while it is checked out nobody does, and an 'error' event with no listener
  // ends the process. So every client gets its own listener for its whole life: the query in flight (or the
  // next one) fails with a connection error instead, the caller answers it (503, one CLI line), and the pool
  // discards the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      logger.warn('database connection lost while in use; the pool will replace it', { error });
    });
  });
  pool.on('error', (error) => {
    logger.warn('database connection lost while idle; it will be replaced', { error });
  });
  return pool;
}

export function createDb(options: DbOptions): Db {
  return dbOnPool(createPool(options));
}

/** For each Db dbOnPool made, its view keeping to a request's deadline (dbWithDeadline). */
const deadlineViews = new WeakMap<Db, (deadline: RequestDeadline) => Db>();

/**
 * A Kysely instance over an existing pool (shared with the rate limiter's Postgres store). The webhooks'
 * statements (src/db/prepared.ts) go out as named prepared statements unless `namedStatements` is false
 * (behind RDS Proxy, which pins a client to its database connection for session state).
 */
export function dbOnPool(pool: pg.Pool, options: { namedStatements?: boolean } = {}): Db {
  const named = options.namedStatements ?? true;
  const base = named ? namingStatements(pool) : (pool as unknown as PostgresPool);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: base }) });
  deadlineViews.set(
    db,
    (deadline) =>
      new Kysely<Database>({
        dialect: new PostgresDialect({ pool: gatingStatements(base, () => pool.idleCount, deadline) }),
      }),
  );
  return db;
}

/**
 * `db` for one request with a deadline (the operator API, src/http/api-deadline.ts): the same pool, but a
 * checkout or a statement that could end after the deadline is refused (src/db/request-deadline.ts). Built
 * per request, so nothing else on the pool ever meets the deadline. `db` must come from dbOnPool.
 */
export function dbWithDeadline(db: Db, deadline: RequestDeadline): Db {
  const view = deadlineViews.get(db);
  if (!view)
    throw new Error('dbWithDeadline: this Db was not made by dbOnPool, so it cannot keep a deadline');
  return view(deadline);
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  // Postgres: connection exceptions, admin/crash/idle shutdown, starting up, too many connections,
  // statement timeout, read-only after a failover (a writer that became a reader).
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '57P05',
  '53300',
  '57014',
  '25006',
  // A lock wait past lock_timeout (set on the webhooks' pool): the row is busy, not the request wrong.
  '55P03',
  // The password refused (28P01) or the login refused (28000) after CredentialedPool's own re-read of the
  // secret: a single-user rotation changes the database's password before the secret (AWS documents the
  // window and says to retry), and a webhook refused for it must be kept, not lost to a 500.
  '28P01',
  '28000',
  // Not an outage but "try again": a serialization failure or a deadlock victim.
  '40001',
  '40P01',
]);

/**
 * What node-postgres and pg-pool say when the connection, not the statement, failed (a statement without
 * an answer past query_timeout: its connection is dropped, HangDroppingClient).
 */
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Query read timeout|Connection terminated|connect ECONNREFUSED|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|Cannot use a pool after calling end on the pool/i;

/**
 * True when the error means "the database cannot be reached right now" (retry later) rather than a bug or
 * bad data — also when a new connection's password could not be read from its secret. Looks through
 * `cause` chains and AggregateErrors (pg's connect tries every address).
 */
export function isDbUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof SecretUnavailable) return e.kind === 'db';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (UNAVAILABLE_MESSAGES.test(e.message)) return true;
    if (e instanceof AggregateError && e.errors.some(isDbUnavailable)) return true;
  }
  return false;
}
