// Bearer-token auth for the /api routes, compared in constant time, and the per-token rate limit after it.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import {
  type ApiCredentials,
  type Credentials,
  freshValue,
  SecretUnavailable,
} from '../adapters/credentials.js';
import { logger } from '../logger.js';
import type { RateLimiter } from '../services/ports.js';
import { type DeadlineEnv, operatorDeadline, RETRY_AFTER_SECONDS } from './api-deadline.js';
import { apiError } from './errors.js';
import { rateLimit } from './rate-limit.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time equality whatever the lengths: both sides are hashed to 32 bytes first. */
function tokensMatch(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** A stable, non-secret key for a token (rate-limit buckets are per token, the token never stored). */
function tokenKey(token: string): string {
  return digest(`rate-limit:${token}`).toString('hex').slice(0, 16);
}

export type ApiEnv = { Variables: DeadlineEnv['Variables'] & { apiTokenKey: string } };

/**
 * Checks the bearer token against the API secret. A mismatch re-reads the secret (bounded by the credentials)
 * before refusing, so a rotated token works at once. A secret that cannot be read (its cache expired and
 * Secrets Manager not answering) is a 503 with Retry-After: the token is neither accepted nor refused.
 */
function requireApiToken(credentials: Credentials<ApiCredentials> | undefined): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="subscribers"' };
    const refuse = (message: string) => apiError(c, 401, 'unauthorized', message, challenge);
    if (!credentials) return refuse('the subscriber API is disabled: API_TOKEN is not configured');
    if (!match) return refuse('missing bearer token: send "Authorization: Bearer <API_TOKEN>"');
    const given = match[1] as string;
    const matches = (expected: ApiCredentials | null) =>
      expected !== null && tokensMatch(given, expected.apiToken);
    let accepted: boolean;
    try {
      const current = await credentials.get();
      accepted = matches(current) || matches(await freshValue(credentials, current));
    } catch (error) {
      if (!(error instanceof SecretUnavailable)) throw error;
      logger.error('could not read the API token secret; the request is answered 503', { error });
      return apiError(
        c,
        503,
        'unavailable',
        'the API token could not be checked right now (its secret could not be read); nothing was done, try again in a few seconds',
        { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      );
    }
    if (!accepted) return refuse('invalid API token');
    c.set('apiTokenKey', tokenKey(given));
    await next();
  };
}

/**
 * Every /api route's guard: the request's deadline (api-deadline.ts), the bearer token, then the per-token
 * `api` budget (429 with Retry-After).
 */
export function apiAccess(
  credentials: Credentials<ApiCredentials> | undefined,
  limiter: RateLimiter | undefined,
): MiddlewareHandler<ApiEnv>[] {
  return [
    operatorDeadline(),
    requireApiToken(credentials),
    rateLimit<ApiEnv>({
      limiter,
      budget: 'api',
      style: 'json',
      key: (c) => `token:${c.get('apiTokenKey')}`,
    }),
  ];
}
