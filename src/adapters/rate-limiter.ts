// Named budgets shared by every Lambda, on rate-limiter-flexible. Each budget has a chain of stores: the
// configured one first, then the narrower ones that answer while it fails — redis → postgres → memory,
// postgres → memory, or memory alone. A store outage narrows a limit's scope (logged, counted) but never
// stops limiting and never throws. The stores: rate-limiter/postgres.ts, rate-limiter/redis.ts.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Settings } from '../config.js';
import { REDIS_CALLS } from '../domain/call-budgets.js';
import { logger } from '../logger.js';
import {
  type BudgetName,
  type LimitDecision,
  type MetricsSink,
  noMetrics,
  type RateLimiter,
  type Reservation,
} from '../services/ports.js';
import { createPostgresLimiter } from './rate-limiter/postgres.js';
import { createLimiterRedis, createRedisLimiter, waitUntilReady } from './rate-limiter/redis.js';
import { throttledWarn } from './rate-limiter/throttled-warn.js';

export type LimiterStore = 'memory' | 'postgres' | 'redis';

export interface BudgetSpec {
  /** Points allowed per window. */
  points: number;
  /** Window length in whole seconds (Redis keeps TTLs in seconds), counted from the first consume. */
  durationSec: number;
}

type LimitSettings = Pick<
  Settings,
  | 'RATE_LIMIT_STORE'
  | 'REDIS_URL'
  | 'RATE_LIMIT_API_PER_MIN'
  | 'OPENAI_REQUESTS_PER_MIN'
  | 'OPENAI_TOKENS_PER_MIN'
  | 'TWILIO_MESSAGES_PER_SECOND'
  | 'TWILIO_MESSAGES_PER_DAY'
>;

export function budgetsFromConfig(config: LimitSettings): Record<BudgetName, BudgetSpec> {
  const perMinute = (points: number): BudgetSpec => ({ points, durationSec: 60 });
  return {
    api: perMinute(config.RATE_LIMIT_API_PER_MIN),
    openai_requests: perMinute(config.OPENAI_REQUESTS_PER_MIN),
    openai_tokens: perMinute(config.OPENAI_TOKENS_PER_MIN),
    sms_per_second: { points: config.TWILIO_MESSAGES_PER_SECOND, durationSec: 1 },
    // Keyed by the subscriber-local date the quota counts (docs/planner.md); one date's sends span at most
    // 31 hours of UTC (UTC+14 to UTC−12), so its counter lives two days from the first send.
    sms_per_day: { points: config.TWILIO_MESSAGES_PER_DAY, durationSec: 2 * 86_400 },
  };
}

/** RATE_LIMIT_STORE when set; otherwise Redis when REDIS_URL is set, Postgres when a pool is given, else memory. */
export function chooseStore(config: Pick<Settings, 'RATE_LIMIT_STORE' | 'REDIS_URL'>, hasPool: boolean) {
  if (config.RATE_LIMIT_STORE) return config.RATE_LIMIT_STORE;
  if (config.REDIS_URL) return 'redis';
  return hasPool ? 'postgres' : 'memory';
}

/**
 * A refused consume still adds its points to the store's counter (rate-limiter-flexible counts every
 * attempt); we give them back so a refused request takes nothing. Giving back after the window has
 * rolled over would start the next window below zero, so points are returned only while the window has
 * at least this long to run.
 */
const GIVE_BACK_MARGIN_MS = 500;

/** Waiters wake with a little spread so a fleet does not hit the store in the same millisecond. */
const WAKE_JITTER_MS = 25;

/** Which stores answer, in order, for each configured store: each one while the one before it fails. */
const STORE_CHAINS: Record<LimiterStore, Record<'withPool' | 'withoutPool', readonly LimiterStore[]>> = {
  memory: { withPool: ['memory'], withoutPool: ['memory'] },
  postgres: { withPool: ['postgres', 'memory'], withoutPool: ['postgres', 'memory'] },
  redis: { withPool: ['redis', 'postgres', 'memory'], withoutPool: ['redis', 'memory'] },
};

export interface RateLimiterOptions {
  config: LimitSettings;
  /** Postgres pool: the store (postgres) or the fallback after Redis (redis). Never ended by the limiter. */
  pool?: pg.Pool;
  /** A Redis client to use instead of opening one on REDIS_URL. Never closed by the limiter. */
  redis?: Redis;
  metrics?: MetricsSink;
  /** Prefix of every stored key, so several deployments or test runs can share one store. */
  keyPrefix?: string;
  /** Overrides of the configured budgets (tests use one-second windows). */
  budgets?: Partial<Record<BudgetName, Partial<BudgetSpec>>>;
}

export interface StoreRateLimiter extends RateLimiter {
  readonly store: LimiterStore;
  /** Quits the Redis client the limiter opened itself; pools and clients given to it stay open. */
  close(): Promise<void>;
}

/**
 * Builds the limiter for this process. Store: RATE_LIMIT_STORE, or automatically Redis when REDIS_URL is
 * set, Postgres when a pool is given, memory otherwise. Build once per cold start.
 */
export async function createRateLimiter(options: RateLimiterOptions): Promise<StoreRateLimiter> {
  const { config, pool } = options;
  const prefix = options.keyPrefix ?? 'dps';
  if (!/^[\w.-]{1,64}$/.test(prefix)) throw new Error(`rate limiter keyPrefix must be 1–64 word characters`);
  const store = chooseStore(config, pool !== undefined);
  if (store === 'postgres' && !pool) throw new Error('RATE_LIMIT_STORE=postgres needs a database pool');

  let redis = options.redis;
  const ownsRedis = store === 'redis' && !redis;
  if (ownsRedis) {
    if (!config.REDIS_URL) throw new Error('RATE_LIMIT_STORE=redis needs REDIS_URL');
    redis = await createLimiterRedis(config.REDIS_URL);
    await waitUntilReady(redis, REDIS_CALLS.readyMs);
  }
  const chain = STORE_CHAINS[store][pool ? 'withPool' : 'withoutPool'];

  const configured = budgetsFromConfig(config);
  const budgets = await Promise.all(
    (Object.keys(configured) as BudgetName[]).map(async (name, index): Promise<Budget> => {
      const spec = { ...configured[name], ...options.budgets?.[name] };
      if (!Number.isInteger(spec.points) || spec.points < 1 || !Number.isInteger(spec.durationSec)) {
        throw new Error(`rate limit budget ${name}: points and durationSec must be positive integers`);
      }
      const base = { keyPrefix: `${prefix}:${name}`, points: spec.points, duration: spec.durationSec };
      const open = async (s: LimiterStore): Promise<RateLimiterAbstract> => {
        if (s === 'redis') return createRedisLimiter(redis as Redis, base);
        // One limiter is enough to sweep expired rows from the shared table.
        if (s === 'postgres')
          return createPostgresLimiter(pool as pg.Pool, { ...base, clearExpired: index === 0 });
        return new RateLimiterMemory(base);
      };
      const stores = await Promise.all(
        chain.map(async (store, i) => ({
          store,
          limiter: await open(store),
          warnFailed: fallbackWarning(name, store, chain[i + 1]),
        })),
      );
      return { name, spec, stores };
    }),
  );
  logger.info('Rate limiter ready', { store, fallbacks: chain.slice(1) });

  const close = async () => {
    if (!ownsRedis || !redis) return;
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    }
  };
  const metrics = options.metrics ?? noMetrics;
  const byName = Object.fromEntries(budgets.map((b) => [b.name, b])) as Record<BudgetName, Budget>;
  return new SharedRateLimiter(store, byName, metrics, close);
}

interface Budget {
  name: BudgetName;
  spec: BudgetSpec;
  /** The configured store first, then each store that answers while the one before it fails. */
  stores: {
    store: LimiterStore;
    limiter: RateLimiterAbstract;
    warnFailed: (extra: Record<string, unknown>) => void;
  }[];
}

function fallbackWarning(budget: BudgetName, failed: LimiterStore, next: LimiterStore | undefined) {
  return throttledWarn(`Rate limiter store ${failed} failed; limiting through ${next}`, {
    budget,
    store: failed,
    ...(next && { fallback: next }),
  });
}

interface Taken {
  decision: LimitDecision;
  /** When the store's window for this key ends (epoch ms), for giving points back safely. */
  windowEndsAt: number;
}

class SharedRateLimiter implements StoreRateLimiter {
  constructor(
    readonly store: LimiterStore,
    private readonly budgets: Record<BudgetName, Budget>,
    private readonly metrics: MetricsSink,
    private readonly onClose: () => Promise<void>,
  ) {}

  async consume(budget: BudgetName, key: string, points = 1): Promise<LimitDecision> {
    const { decision } = await this.take(budget, key, points);
    if (!decision.allowed) this.metrics.count('RateLimitHits', 1, { budget });
    return decision;
  }

  async waitForTurn(budget: BudgetName, key: string, deadline: Date, points = 1): Promise<LimitDecision> {
    const { decision } = await this.waitAndTake(budget, key, deadline, points);
    return decision;
  }

  async refund(budget: BudgetName, key: string, points: number): Promise<void> {
    checkPoints(points);
    const b = this.budgets[budget];
    const storeKey = hashKey(key);
    try {
      const current = await this.call(b, (limiter) => limiter.get(storeKey));
      // Nothing to give back once the window is gone, and never more than was taken.
      if (!current || current.msBeforeNext < GIVE_BACK_MARGIN_MS) return;
      const back = Math.min(points, current.consumedPoints);
      if (back > 0) await this.call(b, (limiter) => limiter.reward(storeKey, back));
    } catch (error) {
      logger.warn('Rate limiter refund failed; the budget stays as it is', { budget, error });
    }
  }

  async reserve(budget: BudgetName, key: string, estimate: number, deadline?: Date): Promise<Reservation> {
    const { decision, windowEndsAt } = deadline
      ? await this.waitAndTake(budget, key, deadline, estimate)
      : await this.take(budget, key, estimate).then((taken) => {
          if (!taken.decision.allowed) this.metrics.count('RateLimitHits', 1, { budget });
          return taken;
        });
    if (!decision.allowed) return decision;
    const b = this.budgets[budget];
    const storeKey = hashKey(key);
    let settled = false;
    const settle = async (actualPoints: number) => {
      if (settled) return;
      settled = true;
      const actual = Math.max(0, Math.ceil(actualPoints));
      try {
        if (actual > estimate) {
          // Used more than reserved: record it (never refused) so later callers see the real usage.
          await this.call(b, (limiter) => limiter.penalty(storeKey, actual - estimate));
        } else if (actual < estimate && windowEndsAt - Date.now() > GIVE_BACK_MARGIN_MS) {
          await this.call(b, (limiter) => limiter.reward(storeKey, estimate - actual));
        }
      } catch (error) {
        logger.warn('Rate limiter correction failed; the estimate stands', { budget, error });
      }
    };
    return { allowed: true, remaining: decision.remaining, settle };
  }

  close(): Promise<void> {
    return this.onClose();
  }

  private async waitAndTake(budget: BudgetName, key: string, deadline: Date, points: number): Promise<Taken> {
    let waited = false;
    for (;;) {
      const taken = await this.take(budget, key, points);
      const { decision } = taken;
      if (decision.allowed) return taken;
      if (!waited) this.metrics.count('RateLimitHits', 1, { budget });
      waited = true;
      const pause = decision.retryAfterMs + Math.floor(Math.random() * WAKE_JITTER_MS);
      // Sleeping past the deadline helps no one: say now when a turn could come instead.
      if (Date.now() + pause > deadline.getTime()) return taken;
      await sleep(pause);
    }
  }

  /** One attempt: takes the points if they fit, else takes nothing and says how long to wait. */
  private async take(budget: BudgetName, key: string, points: number): Promise<Taken> {
    checkPoints(points);
    const b = this.budgets[budget];
    if (points > b.spec.points) {
      logger.warn('Rate limit request is larger than the whole budget; refused', {
        budget,
        points,
        budgetPoints: b.spec.points,
      });
      const windowMs = b.spec.durationSec * 1000;
      return { decision: { allowed: false, retryAfterMs: windowMs }, windowEndsAt: Date.now() + windowMs };
    }
    const storeKey = hashKey(key);
    try {
      const res = await this.call(b, (limiter) => limiter.consume(storeKey, points));
      return {
        decision: { allowed: true, remaining: res.remainingPoints },
        windowEndsAt: Date.now() + res.msBeforeNext,
      };
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      if (refusal.msBeforeNext > GIVE_BACK_MARGIN_MS) {
        await this.call(b, (limiter) => limiter.reward(storeKey, points)).catch(() => undefined);
      }
      return {
        decision: { allowed: false, retryAfterMs: Math.max(refusal.msBeforeNext, 1) },
        windowEndsAt: Date.now() + refusal.msBeforeNext,
      };
    }
  }

  /**
   * Runs one operation on the budget's first store that answers. A refusal (RateLimiterRes) is an answer
   * and passes through; any other error moves on to the next store, logged and counted.
   */
  private async call<T>(b: Budget, operation: (limiter: RateLimiterAbstract) => Promise<T>): Promise<T> {
    for (const [i, { limiter, warnFailed }] of b.stores.entries()) {
      const next = b.stores[i + 1];
      try {
        return await operation(limiter);
      } catch (error) {
        if (error instanceof RateLimiterRes || !next) throw error;
        warnFailed({ error });
        this.metrics.count('RateLimitStoreFallback', 1, { budget: b.name, store: next.store });
      }
    }
    throw new Error(`rate limit budget ${b.name} has no store`);
  }
}

/** Callers' keys (API tokens, phone numbers) are hashed: the store never holds a secret or a number. */
function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}

function checkPoints(points: number): void {
  if (!Number.isInteger(points) || points < 1) {
    throw new RangeError(`rate limit points must be a positive integer (got ${points})`);
  }
}
