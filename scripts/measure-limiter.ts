// Measures what one rate-limit check costs on each store: allowed checks (one store round trip) and
// refused ones (the refusal plus giving the points back). Run:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx scripts/measure-limiter.ts [checks]
// Postgres runs in a scratch database created on DATABASE_URL's server and dropped afterwards; a store
// whose URL is unset is left out, with the reason printed.
import { createServer } from 'node:net';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { createLimiterRedis } from '../src/adapters/rate-limiter/redis.js';
import {
  createRateLimiter,
  type RateLimiterOptions,
  type StoreRateLimiter,
} from '../src/adapters/rate-limiter.js';
import { loadConfig } from '../src/config.js';
import { createPool } from '../src/db/connection.js';
import { migrateToLatest } from '../src/db/migrator.js';

const checks = Number(process.argv[2] ?? 2000);
if (!Number.isInteger(checks) || checks < 10) {
  console.error('usage: tsx scripts/measure-limiter.ts [checks ≥ 10]');
  process.exit(2);
}
const config = loadConfig();
const prefix = `measure${process.pid}`;

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function time(run: (i: number) => Promise<unknown>): Promise<string> {
  for (let i = 0; i < 50; i++) await run(i); // warm up: connections, prepared statements, JIT
  const samples: number[] = [];
  for (let i = 0; i < checks; i++) {
    const start = performance.now();
    await run(i);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  const f = (ms: number) => `${ms.toFixed(3)} ms`;
  return `| ${f(mean)} | ${f(percentile(samples, 50))} | ${f(percentile(samples, 95))} | ${f(percentile(samples, 99))} |`;
}

async function measure(
  label: string,
  options: Omit<RateLimiterOptions, 'config' | 'budgets'> & {
    config?: Partial<RateLimiterOptions['config']>;
  },
) {
  const limiter: StoreRateLimiter = await createRateLimiter({
    ...options,
    config: { ...config, ...options.config },
    keyPrefix: `${prefix}-${label.replace(/\W+/g, '_')}`,
    budgets: {
      api: { points: 1_000_000_000, durationSec: 600 },
      openai_requests: { points: 1, durationSec: 600 },
    },
  });
  const allowed = await time(() => limiter.consume('api', 'token'));
  await limiter.consume('openai_requests', 'openai');
  const refused = await time(() => limiter.consume('openai_requests', 'openai'));
  console.log(`| ${label} | allowed ${allowed}`);
  console.log(`| ${label} | refused ${refused}`);
  await limiter.close();
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 1;
}

console.log(`Rate-limit check overhead, ${checks} sequential checks per row (Node ${process.version})\n`);
console.log('| store | check | mean | p50 | p95 | p99 |');
console.log('| ----- | ----- | ---- | --- | --- | --- |');
await measure('memory', { config: { RATE_LIMIT_STORE: 'memory' } });

let pool: pg.Pool | undefined;
let scratchUrl: string | undefined;
const adminUrl = config.DATABASE_URL ? withDatabase(config.DATABASE_URL, 'postgres') : undefined;
if (adminUrl) {
  const scratch = `dps_measure_${process.pid}`;
  await admin(adminUrl, `CREATE DATABASE ${scratch}`);
  scratchUrl = withDatabase(adminUrl, scratch);
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: scratchUrl }) }),
  });
  await migrateToLatest(db);
  await db.destroy();
  pool = createPool({ connectionString: scratchUrl, max: 2 }); // a Lambda's pool size
  await measure('postgres', { config: { RATE_LIMIT_STORE: 'postgres' }, pool });
}

if (config.REDIS_URL) {
  await measure('redis', { config: { RATE_LIMIT_STORE: 'redis' }, ...(pool ? { pool } : {}) });
  if (pool) {
    const down = await createLimiterRedis(`redis://127.0.0.1:${await closedPort()}`);
    await measure('redis down → postgres', { config: { RATE_LIMIT_STORE: 'redis' }, redis: down, pool });
    down.disconnect();
  }
}

await pool?.end();
if (adminUrl && scratchUrl) await admin(adminUrl, `DROP DATABASE ${new URL(scratchUrl).pathname.slice(1)}`);
if (!adminUrl) console.log('\npostgres: left out (DATABASE_URL is not set)');
if (!config.REDIS_URL) console.log('redis: left out (REDIS_URL is not set)');
