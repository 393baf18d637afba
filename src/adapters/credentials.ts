// Credentials as the adapters see them: a value they ask for when they need it (so a rotated secret is
// picked up without a deploy) and a way to say "the provider refused it, read it again".

/**
 * A secret an adapter uses. In AWS it is read from Secrets Manager and cached for
 * SECRETS_MAX_AGE_SECONDS (src/adapters/secrets.ts); locally it is a fixed value from the environment.
 */
export interface Credentials<T> {
  /**
   * The current value (cached; re-read from the store once the cache has expired). The same object until
   * the value changes, so callers can tell whether someone else has already re-read a new one.
   */
  get(): Promise<T>;
  /**
   * The provider rejected what `get()` gave (Twilio 401/20003, OpenAI 401, Postgres 28P01, a Twilio signature
   * that does not match): read the store again now, before the cache expires. Bounded (at most one re-read
   * per interval, concurrent callers share it) so forged requests cannot hammer the store. Resolves true when
   * the value changed, i.e. when trying again is worthwhile; false also when the store cannot be read.
   */
  refresh(): Promise<boolean>;
}

/** A value that never changes (the environment, a test): nothing to re-read. Equal when the values are. */
class FixedCredentials<T> implements Credentials<T> {
  constructor(readonly value: T) {}
  async get(): Promise<T> {
    return this.value;
  }
  async refresh(): Promise<boolean> {
    return false;
  }
}

export function fixedCredentials<T>(value: T): Credentials<T> {
  return new FixedCredentials(value);
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

/**
 * The store holding a secret did not answer (Secrets Manager unreachable, or slower than its bound): the
 * value is unknown for now, not wrong. Callers answer it as a dependency briefly unavailable (503, a
 * webhook kept for later), never as a bug.
 */
export class SecretUnavailable extends Error {
  constructor(
    readonly kind: SecretKind,
    options: { cause: unknown },
  ) {
    super(`the ${kind} secret could not be read`, options);
    this.name = 'SecretUnavailable';
  }
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
 * After `refused` was rejected by its provider: the value to try instead, or null when there is none. That is
 * the current value when another caller has already re-read a new one, else whatever a re-read finds.
 */
export async function freshValue<T>(credentials: Credentials<T>, refused: T): Promise<T | null> {
  const current = await credentials.get();
  if (current !== refused) return current;
  return (await credentials.refresh()) ? credentials.get() : null;
}

/**
 * Runs `attempt` with the current value; when it fails with an auth error and there is a newer value (see
 * freshValue), runs it once more with that. Any other failure, or a second auth failure, is thrown.
 */
export async function withFreshCredentials<T, R>(
  credentials: Credentials<T>,
  isAuthFailure: (error: unknown) => boolean,
  attempt: (value: T) => Promise<R>,
): Promise<R> {
  const value = await credentials.get();
  try {
    return await attempt(value);
  } catch (error) {
    if (!isAuthFailure(error)) throw error;
    const fresh = await freshValue(credentials, value);
    if (fresh === null) throw error;
    return attempt(fresh);
  }
}
