// Rotating a secret takes effect without a deploy: the deployed handlers read Secrets Manager (mocked with
// aws-sdk-client-mock) through a cache of SECRETS_MAX_AGE_SECONDS, and re-read at once when Twilio (401 /
// 20003, a signature that does not match) or Postgres (28P01) refuses what they hold. Real Postgres, Twilio
// over HTTP (msw), and the handlers as AWS runs them.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createWebhooksHandler } from '../../src/handlers/webhooks.js';
import { setMessageStatus, useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import { rdsSecretFor } from '../support/rds-secret.js';
import {
  inboundParams,
  PUBLIC_BASE_URL,
  RecordingScheduler,
  RecordingSms,
  signedForm,
} from '../support/webhook-doubles.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

const t = useTestDb();
const sm = mockClient(SecretsManagerClient);
const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:111122223333:secret:${name}-AbCdEf`;
const DB = arn('db');
const TWILIO = arn('twilio');
const API = arn('api');
const ACCOUNT = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN_A = 'token-a-0123456789abcdef01234567';
const TOKEN_B = 'token-b-0123456789abcdef01234567';
const API_A = 'api-token-a-0123456789abcdefghij';
const API_B = 'api-token-b-0123456789abcdefghij';

const json = (value: unknown) => ({ SecretString: JSON.stringify(value) });
const twilioSecret = (token: string) => json({ TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: token });
const reads = (secretArn: string) =>
  sm.commandCalls(GetSecretValueCommand).filter((c) => c.args[0].input.SecretId === secretArn).length;

/** What RDS writes into its generated secret for the database at `url`, with the given login. */
const rdsSecret = (url: string, login?: { username: string; password: string }) =>
  json(rdsSecretFor(url, login));

beforeEach(() => sm.reset());
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

describe('webhooks', () => {
  const env = () => ({
    DB_SECRET_ARN: DB,
    TWILIO_SECRET_ARN: TWILIO,
    API_SECRET_ARN: API,
    PUBLIC_BASE_URL,
    ...WEBHOOKS_ENV,
    SECRETS_MAX_AGE_SECONDS: '300',
  });
  const inbound = (token: string) =>
    httpApiEvent('POST', '/twilio/inbound', {
      ...signedForm('/twilio/inbound', inboundParams('+12125550123', 'HELP'), { token }),
      base64: true,
    });
  /** The webhooks handler as deployed, at 18:00, with secrets holding token A and API token A. */
  function deployedAt18h() {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-11-25T18:00:00Z') });
    sm.on(GetSecretValueCommand, { SecretId: DB }).resolves(rdsSecret(t.url()));
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(twilioSecret(TOKEN_A));
    sm.on(GetSecretValueCommand, { SecretId: API }).resolves(json({ API_TOKEN: API_A }));
    return createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      env(),
    );
  }
  const apiCall = (token: string) =>
    httpApiEvent('GET', '/api/subscribers/%2B12125550123', { headers: { authorization: `Bearer ${token}` } });

  it('accepts Twilio signed with a rotated auth token after one re-read; forgeries cause no more reads', async () => {
    const handler = deployedAt18h();

    expect(await handler(inbound(TOKEN_A), lambdaContext)).toMatchObject({ statusCode: 200 });
    expect(reads(TWILIO)).toBe(1);

    // The operator rotates the auth token in Twilio's console and pastes it into the secret.
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(twilioSecret(TOKEN_B));
    vi.setSystemTime(new Date('2026-11-25T18:01:00Z'));
    expect(await handler(inbound(TOKEN_B), lambdaContext)).toMatchObject({ statusCode: 200 });
    expect(reads(TWILIO)).toBe(2);

    for (const forged of ['forged-one-0123456789abcdef', 'forged-two-0123456789abcdef', TOKEN_A]) {
      expect(await handler(inbound(forged), lambdaContext)).toMatchObject({ statusCode: 403 });
    }
    expect(reads(TWILIO)).toBe(2);
    expect(await t.db().selectFrom('inbound_messages').select('classification').execute()).toHaveLength(2);
  });

  it('uses a rotated API token from the first request after SECRETS_MAX_AGE_SECONDS', async () => {
    const handler = deployedAt18h();
    expect(await handler(apiCall(API_A), lambdaContext)).toMatchObject({ statusCode: 404 }); // authorised

    sm.on(GetSecretValueCommand, { SecretId: API }).resolves(json({ API_TOKEN: API_B }));
    vi.setSystemTime(new Date('2026-11-25T18:04:50Z')); // within the cache's 300 s: the old token still works
    expect(await handler(apiCall(API_A), lambdaContext)).toMatchObject({ statusCode: 404 });
    expect(reads(API)).toBe(1);

    vi.setSystemTime(new Date('2026-11-25T18:05:01Z')); // expired: the next request reads the new one
    expect(await handler(apiCall(API_A), lambdaContext)).toMatchObject({ statusCode: 401 });
    expect(await handler(apiCall(API_B), lambdaContext)).toMatchObject({ statusCode: 404 });
    expect(reads(API)).toBeGreaterThanOrEqual(2);
  });
});

describe('reconcile: Twilio REST refuses the cached auth token', () => {
  const base = `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}`;
  const seen: string[] = [];
  let accepted = TOKEN_A;
  const server = setupServer(
    http.get(`${base}/Messages/:sid.json`, ({ request, params }) => {
      const auth = request.headers.get('authorization') ?? '';
      seen.push(
        Buffer.from(auth.replace(/^Basic /, ''), 'base64')
          .toString()
          .split(':')[1] ?? '',
      );
      if (auth !== `Basic ${Buffer.from(`${ACCOUNT}:${accepted}`).toString('base64')}`) {
        return HttpResponse.json(
          {
            code: 20003,
            message: 'Authenticate',
            more_info: 'https://www.twilio.com/docs/errors/20003',
            status: 401,
          },
          { status: 401 },
        );
      }
      return HttpResponse.json({
        sid: params.sid,
        status: 'delivered',
        to: '+14155550123',
        num_segments: '1',
      });
    }),
  );
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterAll(() => server.close());

  async function openDelivery(phone: string, sid: string) {
    const claimedAt = new Date(Date.now() - 25 * 3_600_000);
    const { id: subscriberId } = await t
      .db()
      .insertInto('subscribers')
      .values({ phone, time_zone: 'America/New_York', status: 'active' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await t
      .db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriberId,
        local_date: claimedAt.toISOString().slice(0, 10),
        time_zone: 'America/New_York',
        window_start: new Date(claimedAt.getTime() - 3_600_000),
        window_end: new Date(claimedAt.getTime() + 3_600_000),
        claimed_at: claimedAt,
        state: 'sent',
        message_sid: sid,
      })
      .execute();
    await setMessageStatus(t.db(), sid, 'sent');
  }

  it('re-reads the secret at once and retries with the rotated token, before the cache expires', async () => {
    sm.on(GetSecretValueCommand, { SecretId: DB }).resolves(rdsSecret(t.url()));
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(twilioSecret(TOKEN_A));
    vi.stubEnv('DB_SECRET_ARN', DB);
    vi.stubEnv('TWILIO_SECRET_ARN', TWILIO);
    vi.stubEnv('DATABASE_URL', '');
    vi.resetModules();
    const { handler } = await import('../../src/handlers/reconcile.js');

    await openDelivery('+14155550123', `SM${'1'.repeat(32)}`);
    expect(await handler({})).toMatchObject({ checked: 1, updated: 1 });

    // Rotated at Twilio and in the secret; this container still holds token A, for minutes more.
    accepted = TOKEN_B;
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(twilioSecret(TOKEN_B));
    await openDelivery('+14155550124', `SM${'2'.repeat(32)}`);
    expect(await handler({})).toMatchObject({ checked: 1, updated: 1, errors: 0 });

    expect(seen).toEqual([TOKEN_A, TOKEN_A, TOKEN_B]);
    expect(reads(TWILIO)).toBe(2);
  });
});

describe('Postgres refuses the cached password (28P01)', () => {
  const role = `dps_rotation_${process.pid}`;
  let admin: pg.Client;
  let passwordsChecked = true;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: t.url() });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'password-after-rotation'`);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    // A server that trusts local connections (a developer's DATABASE_URL) never asks for a password.
    const probeUrl = new URL(t.url());
    probeUrl.username = role;
    probeUrl.password = 'certainly-wrong';
    const probe = new pg.Client({ connectionString: probeUrl.toString() });
    passwordsChecked = await probe.connect().then(
      () => false,
      () => true,
    );
    await probe.end().catch(() => {});
  });
  afterAll(async () => {
    await admin.query(`DROP OWNED BY ${role}`);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('re-reads the database secret and connects with the rotated password', async (ctx) => {
    if (!passwordsChecked) {
      console.log('skipped: this Postgres trusts local connections, so no password is ever refused');
      ctx.skip();
    }
    // The secret was read just before RDS rotated it: the first read has the old password.
    sm.on(GetSecretValueCommand, { SecretId: DB })
      .resolvesOnce(rdsSecret(t.url(), { username: role, password: 'password-before-rotation' }))
      .resolves(rdsSecret(t.url(), { username: role, password: 'password-after-rotation' }));
    vi.stubEnv('DB_SECRET_ARN', DB);
    vi.stubEnv('DATABASE_URL', '');
    vi.resetModules();
    const { handler } = await import('../../src/handlers/daily-report.js');

    expect(await handler({ day: '2026-11-24' })).toMatchObject({ day: '2026-11-24' });
    expect(reads(DB)).toBe(2);
  });
});
