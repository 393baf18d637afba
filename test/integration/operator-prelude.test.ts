// What every operator API request does before its route — the API token's check (its secret, re-read when
// the cache has expired) and the per-token rate limiter (its Postgres store, on the Lambda's pool) — is not
// gated by the request's deadline (src/http/api-deadline.ts): it must end by its own bounds, well before the
// webhooks Lambda's 20 s timeout, and a failure in it must reach the operator as a clear 503, not API
// Gateway's bare 5xx or a 500. The webhooks Lambda as deployed, real Postgres. docs/resilience.md.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DB_BOUNDS, LAMBDA_TIMEOUT_MS, marginMs, operatorPreludeMs } from '../../src/domain/call-budgets.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent } from '../support/lambda-events.js';
import { startHangingProxy, timed } from '../support/silent-servers.js';
import { SILENT_API_TOKEN, silentWebhooksHandler, useSilentAws } from '../support/silent-webhooks.js';

const t = useTestDb();
const silent = useSilentAws();

type Answer = { statusCode: number; body: string; headers?: Record<string, string> };

const listSubscribers = () =>
  httpApiEvent('GET', '/api/subscribers', { headers: { authorization: `Bearer ${SILENT_API_TOKEN}` } });

/** A warm invocation's remaining time when the request arrives. */
const REMAINING_MS = 19_500;
const invocation = () => {
  const end = Date.now() + REMAINING_MS;
  return {
    awsRequestId: 'req-1',
    functionName: 'webhooks',
    getRemainingTimeInMillis: () => end - Date.now(),
  } as never;
};
/** Past this the Lambda is stopped and the operator gets API Gateway's bare 5xx. */
const ANSWER_BY_MS = REMAINING_MS - marginMs(LAMBDA_TIMEOUT_MS.webhooks);

/** The webhooks Lambda as deployed, its limiter on Postgres (the stack's store), warmed by one request. */
async function warmHandler(databaseUrl: string) {
  const handler = silentWebhooksHandler(silent(), databaseUrl, { RATE_LIMIT_STORE: 'postgres' });
  const warm = (await handler(listSubscribers(), invocation())) as Answer;
  expect(warm.statusCode).toBe(200);
  return handler;
}

describe('the operator API before its route, when the database stalls', () => {
  it('waits for a locked rate-limit table no longer than one lock wait, then limits in memory and answers', async () => {
    // Prepare: another session holds the limiter's table for longer than the whole request.
    const handler = await warmHandler(t.url());
    const holder = new pg.Client({ connectionString: t.url() });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE rate_limits IN ACCESS EXCLUSIVE MODE');

      // Act
      const { ms, value } = await timed(() => handler(listSubscribers(), invocation()) as Promise<Answer>);

      // Assess: the limiter's statement gave up at lock_timeout; the route ran and answered.
      expect(value?.statusCode).toBe(200);
      expect(ms).toBeGreaterThanOrEqual(DB_BOUNDS.webhooks.lockMs - 100);
      expect(ms).toBeLessThan(DB_BOUNDS.webhooks.lockMs + 1_000);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  }, 30_000);

  it('answers a clear 503 within the prelude’s bounds when every database connection hangs', async () => {
    // Prepare: the Lambda's connections go through a proxy that then stops passing bytes.
    const proxy = await startHangingProxy(t.url());
    try {
      const handler = await warmHandler(proxy.url);
      proxy.hang();

      // Act
      const { ms, value } = await timed(() => handler(listSubscribers(), invocation()) as Promise<Answer>);

      // Assess: the limiter's statement dropped at its bound, the route's connection refused at its own:
      // a 503 the operator can act on, long before the Lambda's timeout.
      expect(value?.statusCode).toBe(503);
      expect(value?.headers?.['retry-after']).toBe('5');
      expect(JSON.parse(value?.body ?? '{}')).toMatchObject({ code: 'unavailable' });
      expect(ms).toBeLessThan(DB_BOUNDS.webhooks.queryMs + DB_BOUNDS.webhooks.connectMs + 1_000);
      expect(ms).toBeLessThan(Math.min(operatorPreludeMs(), ANSWER_BY_MS));
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

