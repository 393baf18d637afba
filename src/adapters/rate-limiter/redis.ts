// The Redis store of the rate limiter. ioredis is loaded only here, on demand: the deployed stack uses
// Postgres, so the Lambda bundles leave ioredis out (lib/lambda-bundling.ts) and its ≈ 170 KB and command
// table setup cost no cold start; one-machine mode and the tests load it from node_modules.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { REDIS_CALLS } from '../../domain/call-budgets.js';
import { throttledWarn } from './throttled-warn.js';

/**
 * The ioredis client for the limiter: fails fast while disconnected (no offline queue, short command
 * timeout) so the next store in the chain answers at once instead of callers waiting on a dead socket.
 */
export async function createLimiterRedis(url: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: REDIS_CALLS.connectMs,
    commandTimeout: REDIS_CALLS.commandMs,
    retryStrategy: (attempt) => Math.min(attempt * 250, 5_000),
  });
  const warn = throttledWarn('Redis for the rate limiter is unreachable; the next store answers', {
    store: 'redis',
  });
  client.on('error', (error: Error) => warn({ error }));
  return client;
}

/** Until the client is ready the next store answers; waiting briefly keeps a cold start on Redis. */
export async function waitUntilReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await Promise.race([new Promise((resolve) => client.once('ready', resolve)), sleep(timeoutMs)]);
}

/** One budget's counters in Redis; refuses at once (rather than queueing) while Redis is not ready. */
export function createRedisLimiter(
  client: Redis,
  options: { keyPrefix: string; points: number; duration: number },
): RateLimiterRedis {
  return new RateLimiterRedis({ ...options, storeClient: client, rejectIfRedisNotReady: true });
}
