// With RDS Proxy (stage setting rdsProxy) the stack gives the Lambdas DATABASE_HOST, the proxy's endpoint,
// and lets them reach the database only through it: the deployed handler must connect there, with the
// user, port, database and password of the RDS secret, whose host is the instance. Real Postgres; Secrets
// Manager through aws-sdk-client-mock.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useTestDb } from '../support/db.js';
import { rdsSecretFor } from '../support/rds-secret.js';

const t = useTestDb();
const sm = mockClient(SecretsManagerClient);
const DB = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf';

/** What RDS writes into its secret: the instance's own host, which the Lambdas cannot reach behind a proxy. */
function rdsSecretOnInstance(instanceHost: string) {
  return { SecretString: JSON.stringify(rdsSecretFor(t.url(), { host: instanceHost })) };
}

beforeEach(() => {
  sm.reset();
  vi.stubEnv('DB_SECRET_ARN', DB);
  vi.stubEnv('DATABASE_URL', '');
  vi.resetModules();
});
afterEach(() => vi.unstubAllEnvs());

describe('DATABASE_HOST (RDS Proxy)', () => {
  it('connects the deployed handler to DATABASE_HOST, not to the host in the database secret', async () => {
    // `.invalid` never resolves (RFC 2606): a connection to the secret's host fails with ENOTFOUND.
    sm.on(GetSecretValueCommand, { SecretId: DB }).resolves(rdsSecretOnInstance('rds-instance.invalid'));
    vi.stubEnv('DATABASE_HOST', new URL(t.url()).hostname);
    const { handler } = await import('../../src/handlers/daily-report.js');

    expect(await handler({ day: '2026-11-24' })).toMatchObject({ day: '2026-11-24' });
  });

  it('uses the secret’s host when DATABASE_HOST is not set (no proxy)', async () => {
    sm.on(GetSecretValueCommand, { SecretId: DB }).resolves(rdsSecretOnInstance('rds-instance.invalid'));
    const { handler } = await import('../../src/handlers/daily-report.js');

    await expect(handler({ day: '2026-11-24' })).rejects.toThrow(/rds-instance\.invalid/);
  });
});
