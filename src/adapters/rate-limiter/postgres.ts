// The Postgres store of the rate limiter: counters in the UNLOGGED `rate_limits` table that
// migrations/2026-11-25T1310_rate_limits.ts creates (the limiter never runs DDL).
import type pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';

/** One budget's counters in Postgres; usable only once its constructor callback ran, which this awaits. */
export function createPostgresLimiter(
  pool: pg.Pool,
  options: { keyPrefix: string; points: number; duration: number; clearExpired: boolean },
): Promise<RateLimiterPostgres> {
  return new Promise((resolve, reject) => {
    let limiter: RateLimiterPostgres | undefined;
    // With tableCreated the callback runs inside the constructor, before `limiter` is assigned.
    const ready = (error?: unknown) =>
      queueMicrotask(() => (error || !limiter ? reject(error) : resolve(limiter)));
    limiter = new RateLimiterPostgres(
      {
        storeClient: pool,
        storeType: 'pool',
        tableName: 'rate_limits',
        tableCreated: true,
        clearExpiredByTimeout: options.clearExpired,
        keyPrefix: options.keyPrefix,
        points: options.points,
        duration: options.duration,
      },
      ready,
    );
  });
}
