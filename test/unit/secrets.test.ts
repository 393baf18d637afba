// Secrets Manager through Powertools Parameters (aws-sdk-client-mock): each Lambda reads only its own
// secrets, values are cached for SECRETS_MAX_AGE_SECONDS, and a forced re-read is bounded.

import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadLambdaConfig, secretsManagerCredentials } from '../../src/adapters/secrets.js';
import { ConfigError } from '../../src/config.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

const sm = mockClient(SecretsManagerClient);
const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:111122223333:secret:${name}-AbCdEf`;
const DB = arn('db');
const TWILIO = arn('twilio');
const OPENAI = arn('openai');
const API = arn('api');
const ALL_ARNS = {
  DB_SECRET_ARN: DB,
  TWILIO_SECRET_ARN: TWILIO,
  OPENAI_SECRET_ARN: OPENAI,
  API_SECRET_ARN: API,
};

const RDS = { username: 'app', password: 'p@ss/word', host: 'db.internal', port: 5432, dbname: 'positivity' };
const TWILIO_SECRET = {
  TWILIO_ACCOUNT_SID: `AC${'a1'.repeat(16)}`,
  TWILIO_AUTH_TOKEN: 'token-one-0123456789abcdef',
};
const json = (value: unknown) => ({ SecretString: JSON.stringify(value) });
const requested = () => sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId);

beforeEach(() => {
  sm.reset();
  sm.on(GetSecretValueCommand, { SecretId: DB }).resolves(json(RDS));
  sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(json(TWILIO_SECRET));
  sm.on(GetSecretValueCommand, { SecretId: OPENAI }).resolves(
    json({ OPENAI_API_KEY: 'sk-from-secrets-manager-0001' }),
  );
  sm.on(GetSecretValueCommand, { SecretId: API }).resolves(json({ API_TOKEN: 't'.repeat(32) }));
});
afterEach(() => vi.useRealTimers());

describe('loadLambdaConfig', () => {
  it.each([
    ['sender', [DB, OPENAI, TWILIO]],
    ['webhooks', [API, DB, TWILIO]],
    ['reconcile', [DB, TWILIO]],
    ['planner', [DB]],
    ['cleanup', [DB]],
    ['daily-report', [DB]],
    ['migrate', [DB]],
  ] as const)('%s reads only its own secrets', async (name, expected) => {
    const env = {
      ...ALL_ARNS,
      PUBLIC_BASE_URL: 'https://sms.example.com',
      SCHEDULER_GROUP_NAME: 'g',
      SCHEDULER_ROLE_ARN: 'arn:aws:iam::111122223333:role/r',
      SCHEDULER_DLQ_ARN: 'arn:aws:sqs:us-east-1:111122223333:dlq',
      SENDER_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:111122223333:function:sender',
      CAPACITY_SETTINGS: WEBHOOKS_ENV.CAPACITY_SETTINGS,
    };
    const config = await loadLambdaConfig(name, env, { client: new SecretsManagerClient({}) });
    expect(requested().sort()).toEqual([...expected].sort());
    expect(Object.keys(config.credentials).sort()).toEqual(
      expected.map((a) => ({ [DB]: 'db', [TWILIO]: 'twilio', [OPENAI]: 'openai', [API]: 'api' })[a]).sort(),
    );
  });

  it('reads the values from Secrets Manager, not from the environment', async () => {
    const config = await loadLambdaConfig(
      'sender',
      {
        ...ALL_ARNS,
        PUBLIC_BASE_URL: 'https://a.example',
        SCHEDULER_GROUP_NAME: 'g',
        OPENAI_API_KEY: 'sk-env-value-must-not-win-0000',
      },
      { client: new SecretsManagerClient({}) },
    );
    expect(await config.credentials.openai.get()).toEqual({ apiKey: 'sk-from-secrets-manager-0001' });
    expect(await config.credentials.db.get()).toEqual({
      url: 'postgres://app@db.internal:5432/positivity',
      password: 'p@ss/word',
    });
  });

  it('names every key missing from the filled-in secrets, in one error', async () => {
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(
      json({ TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: '' }),
    );
    sm.on(GetSecretValueCommand, { SecretId: OPENAI }).resolves(json({ OPENAI_API_KEY: '' }));
    await expect(
      loadLambdaConfig(
        'sender',
        { ...ALL_ARNS, PUBLIC_BASE_URL: 'https://a.example', SCHEDULER_GROUP_NAME: 'g' },
        {
          client: new SecretsManagerClient({}),
        },
      ),
    ).rejects.toThrow(
      /OPENAI_API_KEY: required[\s\S]*TWILIO_ACCOUNT_SID: required[\s\S]*TWILIO_AUTH_TOKEN: required/,
    );
  });

  it('refuses a secret that is not JSON, without quoting it', async () => {
    sm.on(GetSecretValueCommand, { SecretId: API }).resolves({ SecretString: 'REPLACE_ME' });
    const attempt = loadLambdaConfig(
      'webhooks',
      { ...ALL_ARNS, PUBLIC_BASE_URL: 'https://a.example', SCHEDULER_GROUP_NAME: 'g' },
      { client: new SecretsManagerClient({}) },
    );
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.not.toThrow(/REPLACE_ME/);
  });
});

describe('secretsManagerCredentials', () => {
  const provider = () => new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({}) });

  it('serves the cached value until SECRETS_MAX_AGE_SECONDS have passed, then reads the rotated one', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-11-25T18:00:00Z') });
    const twilio = secretsManagerCredentials(provider(), 'twilio', TWILIO, { maxAgeSeconds: 300 });
    expect((await twilio.get()).authToken).toBe('token-one-0123456789abcdef');
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(
      json({ ...TWILIO_SECRET, TWILIO_AUTH_TOKEN: 'token-two-0123456789abcdef' }),
    );

    vi.setSystemTime(new Date('2026-11-25T18:04:59Z'));
    expect((await twilio.get()).authToken).toBe('token-one-0123456789abcdef');
    vi.setSystemTime(new Date('2026-11-25T18:05:02Z'));
    expect((await twilio.get()).authToken).toBe('token-two-0123456789abcdef');
    expect(requested()).toEqual([TWILIO, TWILIO]);
  });

  it('re-reads at once on refresh(), says whether the value changed, and bounds forced reads', async () => {
    let now = 1_000_000;
    const twilio = secretsManagerCredentials(provider(), 'twilio', TWILIO, {
      maxAgeSeconds: 300,
      minForcedRefreshMs: 30_000,
      now: () => now,
    });
    await twilio.get();
    sm.on(GetSecretValueCommand, { SecretId: TWILIO }).resolves(
      json({ ...TWILIO_SECRET, TWILIO_AUTH_TOKEN: 'token-two-0123456789abcdef' }),
    );

    // Concurrent refreshes (a burst of requests signed with the new token) share one read.
    expect(await Promise.all([twilio.refresh(), twilio.refresh()])).toEqual([true, true]);
    expect((await twilio.get()).authToken).toBe('token-two-0123456789abcdef');
    expect(requested()).toEqual([TWILIO, TWILIO]);

    // Forged signatures keep asking: no read until the interval has passed, and then "unchanged".
    now += 10_000;
    expect(await twilio.refresh()).toBe(false);
    expect(requested()).toHaveLength(2);
    now += 30_000;
    expect(await twilio.refresh()).toBe(false);
    expect(requested()).toHaveLength(3);
  });

  it('answers "nothing new" when the store cannot be read on a forced refresh, keeping the cached value', async () => {
    const api = secretsManagerCredentials(provider(), 'api', API, { maxAgeSeconds: 300 });
    const before = await api.get();
    sm.on(GetSecretValueCommand, { SecretId: API }).rejects(new Error('connect ETIMEDOUT'));
    expect(await api.refresh()).toBe(false);
    expect(await api.get()).toBe(before);
  });
});
