// Secrets Manager: each Lambda reads only its own secrets (database, Twilio, OpenAI, API token), through
// Powertools Parameters with a time-to-live, so a rotated key or password is picked up within
// SECRETS_MAX_AGE_SECONDS without a deploy, and at once when a provider refuses the old one. Values never go
// into environment variables or logs.

import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ConfigError,
  type LambdaConfig,
  type LambdaName,
  lambdaSettings,
  parseSecret,
  type SecretSource,
} from '../config.js';
import { SECRETS_READ } from '../domain/call-budgets.js';
import { logger } from '../logger.js';
import { boundedAwsClient } from './aws-clients.js';
import {
  type Credentials,
  fixedCredentials,
  type SecretKind,
  SecretUnavailable,
  type SecretValues,
} from './credentials.js';

/** A forced re-read happens at most this often per secret: a flood of forged signatures costs one read. */
const MIN_FORCED_REFRESH_MS = 30_000;

export interface SecretReaderOptions {
  maxAgeSeconds: number;
  minForcedRefreshMs?: number;
  now?: () => number;
}

/**
 * Credentials read from the Secrets Manager secret `arn` (a JSON string), cached by Powertools for
 * `maxAgeSeconds`. `refresh()` forces a read, at most once per `minForcedRefreshMs`.
 */
export function secretsManagerCredentials<K extends SecretKind>(
  provider: SecretsProvider,
  kind: K,
  arn: string,
  options: SecretReaderOptions,
): Credentials<SecretValues[K]> {
  const label = `${kind} secret ${arn}`;
  const minInterval = options.minForcedRefreshMs ?? MIN_FORCED_REFRESH_MS;
  const now = options.now ?? Date.now;
  let last: { raw: string; value: SecretValues[K] } | undefined;
  let lastForced = Number.NEGATIVE_INFINITY;
  let forced: Promise<boolean> | undefined;

  async function read(forceFetch: boolean): Promise<SecretValues[K]> {
    let raw: unknown;
    try {
      raw = await provider.get(arn, { maxAge: options.maxAgeSeconds, forceFetch });
    } catch (error) {
      throw new SecretUnavailable(kind, { cause: error });
    }
    if (typeof raw !== 'string') throw new ConfigError([`${label} has no string value`]);
    if (last?.raw === raw) return last.value;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      // Not the parser's message: it can quote the secret.
      throw new ConfigError([`${label} is not a JSON object`]);
    }
    last = { raw, value: parseSecret(kind, json, label) };
    return last.value;
  }

  return {
    get: () => read(false),
    refresh() {
      if (forced) return forced;
      if (now() - lastForced < minInterval) return Promise.resolve(false);
      lastForced = now();
      const before = last?.raw;
      forced = read(true)
        .then(() => last?.raw !== before)
        .catch((error: unknown) => {
          // The caller's own failure (the refused value) is the one to report; this one is logged.
          logger.warn('could not re-read a refused secret; keeping the cached one', { arn, error });
          return false;
        })
        .finally(() => {
          forced = undefined;
        });
      return forced;
    },
  };
}

function credentialsFrom(
  source: SecretSource,
  provider: () => SecretsProvider,
  options: SecretReaderOptions,
): Credentials<SecretValues[SecretKind]> {
  if ('arn' in source) return secretsManagerCredentials(provider(), source.kind, source.arn, options);
  return fixedCredentials(parseSecret(source.kind, source.env, 'environment'));
}

export interface LoadLambdaConfigOptions {
  client?: SecretsManagerClient;
  minForcedRefreshMs?: number;
}

/**
 * A Lambda's configuration: settings from the environment (what it requires checked), and credentials for
 * exactly the secrets it uses. Each secret is read once here, so a secret not filled in yet fails this cold
 * start with a message naming what is missing (and the next invocation tries again).
 */
export async function loadLambdaConfig<N extends LambdaName>(
  name: N,
  env: Record<string, string | undefined> = process.env,
  options: LoadLambdaConfigOptions = {},
): Promise<LambdaConfig<N>> {
  const { settings, sources } = lambdaSettings(name, env);
  let provider: SecretsProvider | undefined;
  const sharedProvider = () => {
    // Bounded: a read runs inside a request when the cache expires (src/domain/call-budgets.ts).
    provider ??= new SecretsProvider({
      awsSdkV3Client: options.client ?? boundedAwsClient(SecretsManagerClient, SECRETS_READ),
    });
    return provider;
  };
  const readerOptions = {
    maxAgeSeconds: settings.SECRETS_MAX_AGE_SECONDS,
    minForcedRefreshMs: options.minForcedRefreshMs,
  };
  const problems: string[] = [];
  const credentials: Record<string, Credentials<unknown>> = {};
  await Promise.all(
    sources.map(async (source) => {
      try {
        const made = credentialsFrom(source, sharedProvider, readerOptions);
        await made.get();
        credentials[source.kind] = made;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
      }
    }),
  );
  if (problems.length > 0) throw new ConfigError(problems.sort());
  return { ...settings, credentials } as LambdaConfig<N>;
}
