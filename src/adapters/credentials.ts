// Credentials as the adapters see them: a value they ask for when they need it (so a rotated secret is
// picked up without a deploy) and a way to say "the provider refused it, read it again".

/**
 * A secret an adapter uses. In AWS it is read from Secrets Manager and cached for
 * SECRETS_MAX_AGE_SECONDS (src/adapters/secrets.ts); locally it is a fixed value from the environment.
 */
export interface Credentials<T> {
  /** The current value (cached; re-read from the store once the cache has expired). */
  get(): Promise<T>;
  /**
   * The provider rejected what `get()` gave (Twilio 401/20003, OpenAI 401, Postgres 28P01, a Twilio signature
   * that does not match): read the store again now, before the cache expires. Bounded (at most one re-read
   * per interval, concurrent callers share it) so forged requests cannot hammer the store. Resolves true when
   * the value changed, i.e. when trying again is worthwhile.
   */
  refresh(): Promise<boolean>;
}

/** A value that never changes (the environment, a test): nothing to re-read. */
export function fixedCredentials<T>(value: T): Credentials<T> {
  return { get: async () => value, refresh: async () => false };
}

/** The database: where it is (fixed for the container's life) and the password, which rotates. */
export interface DatabaseCredentials {
  /** postgres:// URL; without a password when `password` is given separately. */
  url: string;
  password?: string;
}

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
}

export interface OpenAiCredentials {
  apiKey: string;
}

export interface ApiCredentials {
  /** Bearer token of the subscriber API. */
  apiToken: string;
}

/** What each secret holds once read, whichever store it came from. */
export interface SecretValues {
  db: DatabaseCredentials;
  twilio: TwilioCredentials;
  openai: OpenAiCredentials;
  api: ApiCredentials;
}
export type SecretKind = keyof SecretValues;

/**
 * Runs `attempt` with the current value; when it fails with an auth error and a re-read brings a different
 * value, runs it once more with that value. Any other failure, or a second auth failure, is thrown.
 */
export async function withFreshCredentials<T, R>(
  credentials: Credentials<T>,
  isAuthFailure: (error: unknown) => boolean,
  attempt: (value: T) => Promise<R>,
): Promise<R> {
  try {
    return await attempt(await credentials.get());
  } catch (error) {
    if (!isAuthFailure(error) || !(await credentials.refresh())) throw error;
    return attempt(await credentials.get());
  }
}
