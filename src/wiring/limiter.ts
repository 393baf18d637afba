// The rate limiter every Lambda instance shares (sender, webhooks).
import type pg from 'pg';
import { createRateLimiter } from '../adapters/rate-limiter.js';
import type { Settings } from '../config.js';
import type { MetricsSink, RateLimiter } from '../services/ports.js';

/** Postgres (the database we already have) or Redis when configured. */
export function sharedLimiter(config: Settings, pool: pg.Pool, metrics?: MetricsSink): Promise<RateLimiter> {
  return createRateLimiter({ config, pool, metrics });
}
