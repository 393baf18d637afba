// Secrets Manager: the app secret (OpenAI key, Twilio credentials, API token) and the RDS credentials
// secret. Read once per cold start; values never go into environment variables or logs.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { type Config, ConfigError, loadConfig, type SecretName, type SettingName } from '../config.js';

const RdsSecret = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().default(5432),
  dbname: z.string().min(1).default('postgres'),
});

async function readJsonSecret(client: SecretsManagerClient, arn: string, label: string): Promise<unknown> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  if (!out.SecretString) throw new ConfigError([`${label}: secret ${arn} has no string value`]);
  try {
    return JSON.parse(out.SecretString);
  } catch {
    throw new ConfigError([`${label}: secret ${arn} is not a JSON object`]);
  }
}

/** postgres:// URL from an RDS-generated credentials secret. */
export function databaseUrlFromRdsSecret(secret: unknown): string {
  const parsed = RdsSecret.safeParse(secret);
  if (!parsed.success) {
    throw new ConfigError([
      `DB_SECRET_ARN: secret lacks ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    ]);
  }
  const { username, password, host, port, dbname } = parsed.data;
  return `postgres://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(dbname)}`;
}

/**
 * Config for a Lambda: settings from the environment, secrets from APP_SECRET_ARN (when set) and the
 * database URL from DB_SECRET_ARN (when DATABASE_URL is not set). Locally, plain loadConfig() is enough.
 */
export async function loadRuntimeConfig(
  env: Record<string, string | undefined> = process.env,
  options: { require?: (SettingName | SecretName)[]; client?: SecretsManagerClient } = {},
): Promise<Config> {
  const client = options.client ?? new SecretsManagerClient({});
  const secrets = env.APP_SECRET_ARN
    ? await readJsonSecret(client, env.APP_SECRET_ARN, 'APP_SECRET_ARN')
    : undefined;
  const databaseUrl =
    !env.DATABASE_URL && env.DB_SECRET_ARN
      ? databaseUrlFromRdsSecret(await readJsonSecret(client, env.DB_SECRET_ARN, 'DB_SECRET_ARN'))
      : env.DATABASE_URL;
  return loadConfig(
    { ...env, DATABASE_URL: databaseUrl },
    {
      require: options.require,
      secrets: secrets === undefined ? undefined : (secrets as Record<string, unknown>),
    },
  );
}
