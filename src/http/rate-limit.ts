// HTTP rate limiting through the RateLimiter port: 'api' per API token (/health is never limited: it is
// simply not wrapped; the Twilio routes are limited in their SQL). Over budget → 429 with Retry-After.
// The limiter is advisory: if it fails, the request goes through and the failure is logged, so a limiter
// outage never turns Twilio's webhooks into errors (Twilio does not retry them).
import type { Context, Env, MiddlewareHandler } from 'hono';
import { logger } from '../logger.js';
import type { BudgetName, RateLimiter } from '../services/ports.js';
import { apiError } from './errors.js';
import { matchedRoute } from './matched-route.js';
import { twiml } from './twilio.js';

export interface RateLimitOptions<E extends Env> {
  limiter: RateLimiter | undefined;
  budget: BudgetName;
  /** The bucket for this request; undefined lets it through uncounted (e.g. a missing parameter). */
  key: (c: Context<E>) => string | undefined;
  /** Requests that must always get through (an opt-out is honoured even from a chatty sender). */
  exempt?: (c: Context<E>) => boolean;
  /** 'twiml': empty TwiML (Twilio routes); 'json': an error object (the API). */
  style: 'twiml' | 'json';
}

export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

export function rateLimit<E extends Env>(options: RateLimitOptions<E>): MiddlewareHandler<E> {
  return async (c, next) => {
    const { limiter, budget } = options;
    const key = limiter ? options.key(c) : undefined;
    if (!limiter || key === undefined || options.exempt?.(c)) return next();
    let decision: Awaited<ReturnType<RateLimiter['consume']>>;
    try {
      decision = await limiter.consume(budget, key);
    } catch (error) {
      logger.warn('rate limiter failed; letting the request through', { budget, error });
      return next();
    }
    if (decision.allowed) return next();
    const seconds = retryAfterSeconds(decision.retryAfterMs);
    logger.warn('rate limited', { budget, route: matchedRoute(c), retryAfterSeconds: seconds });
    c.header('Retry-After', String(seconds));
    if (options.style === 'twiml') return twiml(c, null, 429);
    return apiError(c, 429, 'rate_limited', `too many requests; retry after ${seconds} s`);
  };
}
