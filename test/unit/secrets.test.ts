import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { databaseUrlFromRdsSecret, loadRuntimeConfig } from '../../src/adapters/secrets.js';
import { ConfigError } from '../../src/config.js';

const sm = mockClient(SecretsManagerClient);
const APP = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf';
const DB = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf';

describe('loadRuntimeConfig', () => {
  beforeEach(() => sm.reset());

  it('reads secrets and the database URL from Secrets Manager, not from the environment', async () => {
    sm.on(GetSecretValueCommand, { SecretId: APP }).resolves({
      SecretString: JSON.stringify({
        OPENAI_API_KEY: 'sk-secret-manager-value-0001',
        API_TOKEN: 't'.repeat(32),
      }),
    });
    sm.on(GetSecretValueCommand, { SecretId: DB }).resolves({
      SecretString: JSON.stringify({
        username: 'app',
        password: 'p@ss/word',
        host: 'db.internal',
        port: 5432,
        dbname: 'positivity',
      }),
    });
    const config = await loadRuntimeConfig(
      { APP_SECRET_ARN: APP, DB_SECRET_ARN: DB, OPENAI_API_KEY: 'sk-env-value-must-not-win-0000' },
      { client: new SecretsManagerClient({}), require: ['OPENAI_API_KEY', 'DATABASE_URL'] },
    );
    expect(config.secrets.OPENAI_API_KEY).toBe('sk-secret-manager-value-0001');
    expect(config.DATABASE_URL).toBe('postgres://app:p%40ss%2Fword@db.internal:5432/positivity');
    expect(
      sm
        .commandCalls(GetSecretValueCommand)
        .map((c) => c.args[0].input.SecretId)
        .sort(),
    ).toEqual([APP, DB]);
  });

  it('names what is missing when the filled-in secret lacks a required key', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ API_TOKEN: 't'.repeat(32) }) });
    await expect(
      loadRuntimeConfig(
        { APP_SECRET_ARN: APP },
        { client: new SecretsManagerClient({}), require: ['OPENAI_API_KEY', 'TWILIO_AUTH_TOKEN'] },
      ),
    ).rejects.toThrow(/OPENAI_API_KEY: required here[\s\S]*TWILIO_AUTH_TOKEN: required here/);
  });

  it('refuses a secret that is not JSON', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'REPLACE_ME' });
    await expect(
      loadRuntimeConfig({ APP_SECRET_ARN: APP }, { client: new SecretsManagerClient({}) }),
    ).rejects.toThrow(ConfigError);
  });
});

describe('databaseUrlFromRdsSecret', () => {
  it('names the missing fields', () => {
    expect(() => databaseUrlFromRdsSecret({ username: 'x' })).toThrow(/password, host/);
  });
});
