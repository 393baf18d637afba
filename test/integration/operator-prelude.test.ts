// What every operator API request does before its route — the API token's check (its secret, re-read when
// the cache has expired) and the per-token rate limiter (its Postgres store, on the Lambda's pool) — is not
// gated by the request's deadline (src/http/api-deadline.ts): it must end by its own bounds, well before the
// webhooks Lambda's 20 s timeout, and a failure in it must reach the operator as a clear 503, not API
// Gateway's bare 5xx or a 500. The webhooks Lambda as deployed, real Postgres. docs/resilience.md.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DB_BOUNDS, LAMBDA_TIMEOUT_MS, marginMs, operatorPreludeMs } from '../../src/domain/call-budgets.js';
import { createWebhooksHandler } from '../../src/handlers/webhooks.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, webhooksInvocation } from '../support/lambda-events.js';
import { rdsSecretFor } from '../support/rds-secret.js';
import { startHangingProxy, timed } from '../support/silent-servers.js';
import { SILENT_API_TOKEN, silentWebhooksHandler, useSilentAws } from '../support/silent-webhooks.js';
import { PUBLIC_BASE_URL, RecordingScheduler, RecordingSms } from '../support/webhook-doubles.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

const t = useTestDb();
const silent = useSilentAws();
const sm = mockClient(SecretsManagerClient);

afterEach(() => {
  sm.reset();
  vi.useRealTimers();
});

type Answer = { statusCode: number; body: string; headers?: Record<string, string> };

const listSubscribers = () =>
  httpApiEvent('GET', '/api/subscribers', { headers: { authorization: `Bearer ${SILENT_API_TOKEN}` } });

/** A warm invocation's remaining time when the request arrives. */
const REMAINING_MS = 19_500;
const invocation = () => webhooksInvocation(REMAINING_MS);
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

describe('the operator API before its route, when Secrets Manager cannot be read', () => {
  const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:111122223333:secret:${name}-AbCdEf`;
  const DB = arn('db');
  const API = arn('api');
  const json = (value: unknown) => ({ SecretString: JSON.stringify(value) });
  /** What the bounded Secrets Manager client ends a read with when the service does not answer in time. */
  const aborted = () => Object.assign(new Error('Request aborted'), { name: 'AbortError' });

  /** The webhooks Lambda as deployed, every secret from Secrets Manager (cached 300 s), at 18:00. */
  async function deployedAt18h() {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-11-25T18:00:00Z') });
    sm.on(GetSecretValueCommand, { SecretId: DB }).resolves(json(rdsSecretFor(t.url())));
    sm.on(GetSecretValueCommand, { SecretId: arn('twilio') }).resolves(
      json({ TWILIO_ACCOUNT_SID: `AC${'0123456789abcdef'.repeat(2)}`, TWILIO_AUTH_TOKEN: 'x'.repeat(32) }),
    );
    sm.on(GetSecretValueCommand, { SecretId: API }).resolves(json({ API_TOKEN: SILENT_API_TOKEN }));
    const handler = createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      {
        DB_SECRET_ARN: DB,
        TWILIO_SECRET_ARN: arn('twilio'),
        API_SECRET_ARN: API,
        PUBLIC_BASE_URL,
        ...WEBHOOKS_ENV,
        SECRETS_MAX_AGE_SECONDS: '300',
      },
    );
    const warm = (await handler(listSubscribers(), invocation())) as Answer;
    expect(warm.statusCode).toBe(200);
    return handler;
  }

  it('answers 503 with Retry-After, not 500, when the API token’s secret cannot be re-read', async () => {
    // Prepare: the token's cache has expired, and Secrets Manager does not answer the re-read in time.
    const handler = await deployedAt18h();
    sm.on(GetSecretValueCommand, { SecretId: API }).rejects(aborted());
    vi.setSystemTime(new Date('2026-11-25T18:06:00Z'));

    // Act
    const answer = (await handler(listSubscribers(), invocation())) as Answer;

    // Assess: the operator is told the service is briefly unavailable, and when to try again.
    expect(answer.statusCode).toBe(503);
    expect(answer.headers?.['retry-after']).toBe('5');
    const body = JSON.parse(answer.body);
    expect(body.code).toBe('unavailable');
    expect(body.error).toMatch(/API token could not be checked/);
  });

  it('answers 503 with Retry-After, not 500, when a connection needs the database password and its secret cannot be re-read', async () => {
    // Prepare: the cache has expired; the Lambda's connections are gone (idle timeout, a failover), so the
    // next statement opens one, which needs the password; Secrets Manager does not answer in time.
    const handler = await deployedAt18h();
    sm.on(GetSecretValueCommand, { SecretId: DB }).rejects(aborted());
    vi.setSystemTime(new Date('2026-11-25T18:06:00Z'));
    const admin = new pg.Client({ connectionString: t.url() });
    await admin.connect();
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'daily-positivity-webhooks' AND datname = current_database()`,
      );
    } finally {
      await admin.end();
    }

    // Act
    const answer = (await handler(listSubscribers(), invocation())) as Answer;

    // Assess
    expect(answer.statusCode).toBe(503);
    expect(answer.headers?.['retry-after']).toBe('5');
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'unavailable' });
  });
});
