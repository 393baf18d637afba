// Named budgets shared by every Lambda, on rate-limiter-flexible: memory (one process), Postgres (the
// database we already have) or Redis. Redis falls back to Postgres and every store falls back to memory,
// so a store outage degrades the limit to a narrower scope but never stops limiting and never throws.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import {
  RateLimiterCompatibleAbstract,
  type RateLimiterLike,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { Settings } from '../config.js';
import { logger } from '../logger.js';
import {
  type BudgetName,
  type Clock,
  type LimitDecision,
  type MetricsSink,
  noMetrics,
  type RateLimiter,
  type Reservation,
  systemClock,
} from '../services/ports.js';

export type LimiterStore = 'memory' | 'postgres' | 'redis';

export interface BudgetSpec {
  /** Points allowed per window. */
  points: number;
  /** Window length in whole seconds (Redis keeps TTLs in seconds), counted from the first consume. */
  durationSec: number;
  /** 'utc-day': the window is the UTC calendar day (the stored key carries the date). */
  window: 'rolling' | 'utc-day';
}

export type LimitSettings = Pick<
  Settings,
  | 'RATE_LIMIT_STORE'
  | 'REDIS_URL'
  | 'RATE_LIMIT_API_PER_MIN'
  | 'RATE_LIMIT_INBOUND_PER_MIN'
  | 'RATE_LIMIT_STATUS_PER_MIN'
  | 'OPENAI_REQUESTS_PER_MIN'
  | 'OPENAI_TOKENS_PER_MIN'
  | 'TWILIO_MESSAGES_PER_SECOND'
  | 'TWILIO_MESSAGES_PER_DAY'
>;

export const BUDGET_NAMES: readonly BudgetName[] = [
  'api',
  'inbound',
  'status',
  'openai_requests',
  'openai_tokens',
  'sms_per_second',
  'sms_per_day',
];

export function budgetsFromConfig(config: LimitSettings): Record<BudgetName, BudgetSpec> {
  const perMinute = (points: number): BudgetSpec => ({ points, durationSec: 60, window: 'rolling' });
  return {
    api: perMinute(config.RATE_LIMIT_API_PER_MIN),
    inbound: perMinute(config.RATE_LIMIT_INBOUND_PER_MIN),
    status: perMinute(config.RATE_LIMIT_STATUS_PER_MIN),
    openai_requests: perMinute(config.OPENAI_REQUESTS_PER_MIN),
    openai_tokens: perMinute(config.OPENAI_TOKENS_PER_MIN),
    sms_per_second: { points: config.TWILIO_MESSAGES_PER_SECOND, durationSec: 1, window: 'rolling' },
    // Keyed by the subscriber-local date the quota counts (docs/planner.md); one date's sends span at most
    // 31 hours of UTC (UTC+14 to UTC−12), so its counter lives two days from the first send.
    sms_per_day: { points: config.TWILIO_MESSAGES_PER_DAY, durationSec: 2 * 86_400, window: 'rolling' },
  };
}

/** RATE_LIMIT_STORE when set; otherwise Redis when REDIS_URL is set, Postgres when a pool is given, else memory. */
export function chooseStore(config: Pick<Settings, 'RATE_LIMIT_STORE' | 'REDIS_URL'>, hasPool: boolean) {
  if (config.RATE_LIMIT_STORE) return config.RATE_LIMIT_STORE;
  if (config.REDIS_URL) return 'redis';
  return hasPool ? 'postgres' : 'memory';
}

/** The table created by migrations/2026-11-25T1310_rate_limits.ts. */
export const RATE_LIMIT_TABLE = 'rate_limits';

/**
 * A refused consume still adds its points to the store's counter (rate-limiter-flexible counts every
 * attempt); we give them back so a refused request takes nothing. Giving back after the window has
 * rolled over would start the next window below zero, so points are returned only while the window has
 * at least this long to run.
 */
const GIVE_BACK_MARGIN_MS = 500;

/** Waiters wake with a little spread so a fleet does not hit the store in the same millisecond. */
const WAKE_JITTER_MS = 25;

/** Logs at most once a minute per concern, with how many occurrences were not logged since. */
function throttledWarn(message: string, context: Record<string, string>, intervalMs = 60_000) {
  let lastAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (extra: Record<string, unknown> = {}) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      suppressed += 1;
      return;
    }
    logger.warn(message, { ...context, ...extra, suppressedSinceLastLog: suppressed });
    lastAt = now;
    suppressed = 0;
  };
}

/**
 * Wraps the limiter that rate-limiter-flexible calls as `insuranceLimiter`, so that every time the main
 * store fails and the insurance answers, we log it and count it.
 */
class ReportingInsurance extends RateLimiterCompatibleAbstract {
  override keyPrefix: string;
  override blockDuration = 0;
  override execEvenly = false;

  constructor(
    private readonly inner: RateLimiterLike,
    private readonly onUse: () => void,
  ) {
    super();
    this.keyPrefix = inner.keyPrefix;
  }

  override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.consume(key, points, options);
  }
  override penalty(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.penalty(key, points, options);
  }
  override reward(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.reward(key, points, options);
  }
  override get(key: string | number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.get(key, options);
  }
  override set(key: string | number, points: number, secDuration: number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.set(key, points, secDuration, options);
  }
  override block(key: string | number, secDuration: number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.block(key, secDuration, options);
  }
  override delete(key: string | number, options?: Record<string, unknown>) {
    this.onUse();
    return this.inner.delete(key, options);
  }
}

/** RateLimiterPostgres is usable only once its constructor callback ran; this resolves then. */
function createPostgresLimiter(
  pool: pg.Pool,
  options: { keyPrefix: string; points: number; duration: number; clearExpired: boolean },
  insurance: RateLimiterLike,
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
        tableName: RATE_LIMIT_TABLE,
        tableCreated: true, // the migration owns the DDL
        clearExpiredByTimeout: options.clearExpired,
        keyPrefix: options.keyPrefix,
        points: options.points,
        duration: options.duration,
        insuranceLimiter: insurance,
      },
      ready,
    );
  });
}

/**
 * The ioredis client for the limiter: fails fast while disconnected (no offline queue, short command
 * timeout) so the Postgres insurance answers at once instead of callers waiting on a dead socket.
 * ioredis is loaded only here: the deployed stack uses Postgres, and loading ioredis costs every cold
 * start of the webhooks and sender Lambdas about 170 KB and its command table setup.
 */
export async function createLimiterRedis(url: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 250, 5_000),
  });
  const warn = throttledWarn('Redis for the rate limiter is unreachable; the insurance limiter answers', {
    store: 'redis',
  });
  client.on('error', (error: Error) => warn({ error }));
  return client;
}

async function waitUntilReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await Promise.race([new Promise((resolve) => client.once('ready', resolve)), sleep(timeoutMs)]);
}

export interface RateLimiterOptions {
  config: LimitSettings;
  /** Postgres pool: the store (postgres) or Redis's insurance (redis). Never ended by the limiter. */
  pool?: pg.Pool;
  /** A Redis client to use instead of opening one on REDIS_URL. Never closed by the limiter. */
  redis?: Redis;
  metrics?: MetricsSink;
  /** Decides the UTC day of the daily quota. Waiting always uses real time. */
  clock?: Clock;
  /** Prefix of every stored key, so several deployments or test runs can share one store. */
  keyPrefix?: string;
  /** Overrides of the configured budgets (tests use one-second windows). */
  budgets?: Partial<Record<BudgetName, Partial<BudgetSpec>>>;
}

export interface StoreRateLimiter extends RateLimiter {
  readonly store: LimiterStore;
  readonly budgets: Readonly<Record<BudgetName, BudgetSpec>>;
  /** Quits the Redis client the limiter opened itself; pools and clients given to it stay open. */
  close(): Promise<void>;
}

interface Budget {
  name: BudgetName;
  spec: BudgetSpec;
  /** The configured store, with its insurance chain. */
  limiter: RateLimiterLike;
  /** Answers if even the insurance chain fails (it should not: memory is its last link). */
  lastResort: RateLimiterMemory;
  warnLastResort: (extra?: Record<string, unknown>) => void;
}

interface Taken {
  decision: LimitDecision;
  /** When the store's window for this key ends (epoch ms), for giving points back safely. */
  windowEndsAt: number;
}

class SharedRateLimiter implements StoreRateLimiter {
  readonly budgets: Readonly<Record<BudgetName, BudgetSpec>>;

  constructor(
    readonly store: LimiterStore,
    private readonly table: Record<BudgetName, Budget>,
    private readonly metrics: MetricsSink,
    private readonly clock: Clock,
    private readonly onClose: () => Promise<void>,
  ) {
    this.budgets = Object.fromEntries(BUDGET_NAMES.map((n) => [n, table[n].spec])) as Record<
      BudgetName,
      BudgetSpec
    >;
  }

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
    const b = this.table[budget];
    const storeKey = this.storeKey(b, key);
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
    const b = this.table[budget];
    const storeKey = this.storeKey(b, key);
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
    const b = this.table[budget];
    if (points > b.spec.points) {
      logger.warn('Rate limit request is larger than the whole budget; refused', {
        budget,
        points,
        budgetPoints: b.spec.points,
      });
      const windowMs = b.spec.durationSec * 1000;
      return { decision: { allowed: false, retryAfterMs: windowMs }, windowEndsAt: Date.now() + windowMs };
    }
    const storeKey = this.storeKey(b, key);
    try {
      const res = await this.call(b, (limiter) => limiter.consume(storeKey, points));
      return {
        decision: { allowed: true, remaining: res.remainingPoints },
        windowEndsAt: Date.now() + res.msBeforeNext,
      };
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal; // call() already handled store errors
      if (refusal.msBeforeNext > GIVE_BACK_MARGIN_MS) {
        await this.call(b, (limiter) => limiter.reward(storeKey, points)).catch(() => undefined);
      }
      const retryAfterMs =
        b.spec.window === 'utc-day' ? msUntilNextUtcDay(this.clock.now()) : Math.max(refusal.msBeforeNext, 1);
      return { decision: { allowed: false, retryAfterMs }, windowEndsAt: Date.now() + refusal.msBeforeNext };
    }
  }

  /**
   * Runs one operation on the budget's store chain. A refusal (RateLimiterRes) passes through; any other
   * failure means even the insurance failed, so the in-process last resort answers.
   */
  private async call<T>(b: Budget, operation: (limiter: RateLimiterLike) => Promise<T>): Promise<T> {
    try {
      return await operation(b.limiter);
    } catch (error) {
      if (error instanceof RateLimiterRes) throw error;
      b.warnLastResort({ error });
      this.metrics.count('RateLimitStoreFallback', 1, { budget: b.name, store: 'memory' });
      return operation(b.lastResort);
    }
  }

  /** Callers' keys (API tokens, phone numbers) are hashed: the store never holds a secret or a number. */
  private storeKey(b: Budget, key: string): string {
    const hashed = createHash('sha256').update(key).digest('base64url');
    return b.spec.window === 'utc-day' ? `${hashed}:${this.clock.now().toISOString().slice(0, 10)}` : hashed;
  }
}

function checkPoints(points: number): void {
  if (!Number.isInteger(points) || points < 1) {
    throw new RangeError(`rate limit points must be a positive integer (got ${points})`);
  }
}

function msUntilNextUtcDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return next - now.getTime();
}

/**
 * Builds the limiter for this process. Store: RATE_LIMIT_STORE, or automatically Redis when REDIS_URL is
 * set, Postgres when a pool is given, memory otherwise. Build once per cold start.
 */
export async function createRateLimiter(options: RateLimiterOptions): Promise<StoreRateLimiter> {
  const { config, pool } = options;
  const metrics = options.metrics ?? noMetrics;
  const prefix = options.keyPrefix ?? 'dps';
  if (!/^[\w.-]{1,64}$/.test(prefix)) throw new Error(`rate limiter keyPrefix must be 1–64 word characters`);
  const store = chooseStore(config, pool !== undefined);
  if (store === 'postgres' && !pool) throw new Error('RATE_LIMIT_STORE=postgres needs a database pool');

  let redis = options.redis;
  let ownsRedis = false;
  if (store === 'redis' && !redis) {
    if (!config.REDIS_URL) throw new Error('RATE_LIMIT_STORE=redis needs REDIS_URL');
    redis = await createLimiterRedis(config.REDIS_URL);
    ownsRedis = true;
    // Until it is ready the insurance answers; waiting briefly keeps a cold start on the shared store.
    await waitUntilReady(redis, 1_000);
  }

  const configured = budgetsFromConfig(config);
  const entries = await Promise.all(
    BUDGET_NAMES.map(async (name, index): Promise<[BudgetName, Budget]> => {
      const spec = { ...configured[name], ...options.budgets?.[name] };
      if (!Number.isInteger(spec.points) || spec.points < 1 || !Number.isInteger(spec.durationSec)) {
        throw new Error(`rate limit budget ${name}: points and durationSec must be positive integers`);
      }
      const base = { keyPrefix: `${prefix}:${name}`, points: spec.points, duration: spec.durationSec };
      const memory = () => new RateLimiterMemory(base);
      const reporting = (inner: RateLimiterLike, failed: 'postgres' | 'redis', insurance: LimiterStore) => {
        const warn = throttledWarn(`Rate limiter store ${failed} failed; limiting through ${insurance}`, {
          budget: name,
          store: failed,
          insurance,
        });
        return new ReportingInsurance(inner, () => {
          warn();
          metrics.count('RateLimitStoreFallback', 1, { budget: name, store: insurance });
        });
      };
      const postgres = (p: pg.Pool) =>
        createPostgresLimiter(
          p,
          // One limiter is enough to sweep expired rows from the shared table.
          { ...base, clearExpired: index === 0 },
          reporting(memory(), 'postgres', 'memory'),
        );

      let limiter: RateLimiterLike;
      if (store === 'memory') limiter = memory();
      else if (store === 'postgres') limiter = await postgres(pool as pg.Pool);
      else {
        const insurance = pool
          ? reporting(await postgres(pool), 'redis', 'postgres')
          : reporting(memory(), 'redis', 'memory');
        limiter = new RateLimiterRedis({
          ...base,
          storeClient: redis,
          rejectIfRedisNotReady: true,
          insuranceLimiter: insurance,
        });
      }
      const warnLastResort = throttledWarn('Rate limiter insurance failed; limiting in this process only', {
        budget: name,
        store,
      });
      return [name, { name, spec, limiter, lastResort: memory(), warnLastResort }];
    }),
  );
  const table = Object.fromEntries(entries) as Record<BudgetName, Budget>;
  logger.info('Rate limiter ready', { store, insurance: store === 'redis' && pool ? 'postgres' : 'memory' });

  const close = async () => {
    if (!ownsRedis || !redis) return;
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    }
  };
  return new SharedRateLimiter(store, table, metrics, options.clock ?? systemClock, close);
}
