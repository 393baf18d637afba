// The one place the environment is read. Every setting is validated together so a bad deployment fails
// at start-up with a single message naming every missing or invalid variable.
import * as z from 'zod';
import type { Credentials, SecretKind, SecretValues } from './adapters/credentials.js';
import { DeployedCapacitySchema } from './domain/capacity.js';
import { gsmLength, isGsm7 } from './domain/gsm.js';
import { E164_SHAPE } from './domain/phone.js';
import { canonicalTimeZone, isValidTimeZone } from './domain/time-zone.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const money = z.coerce.number().min(0).max(1_000_000);
const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a 24-hour time such as 12:00')
  .transform((hhmm) => {
    const [h, m] = hhmm.split(':').map(Number) as [number, number];
    return h * 60 + m;
  });
const bool = z.stringbool();
/**
 * Text that goes into every reply we send (src/domain/replies.ts): GSM-7 only, because one other character
 * (a curly apostrophe, an emoji) makes the whole reply UCS-2 at 70 characters a segment, and at most
 * `septets` long (€ [ ] { } ^ ~ | \\ take two), so the replies keep to one segment.
 */
const replyText = (minLength: number, septets: number) =>
  z
    .string()
    .min(minLength)
    .superRefine((text, ctx) => {
      const outside = [...text].find((ch) => !isGsm7(ch));
      if (outside !== undefined) {
        const code = `U+${(outside.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
        ctx.addIssue({
          code: 'custom',
          message: `expected GSM-7 text (it goes into every reply, and one other character makes each reply UCS-2): ${JSON.stringify(outside)} (${code}) is not GSM-7`,
        });
      } else if (gsmLength(text) > septets) {
        ctx.addIssue({
          code: 'custom',
          message: `expected at most ${septets} GSM-7 characters (€ [ ] { } ^ ~ | \\ count twice), so replies fit one SMS segment`,
        });
      }
    });
const e164 = z.string().regex(E164_SHAPE, 'expected an E.164 number such as +14155550100');
const secretArn = z.string().startsWith('arn:', 'expected a Secrets Manager secret ARN');
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const jsonText = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Settings that are never secret: safe to put in a Lambda's environment. */
const SettingsSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
    SERVICE_NAME: replyText(1, 40).default('Daily Positivity'),
    HELP_CONTACT: replyText(3, 80).default('support@example.com'),

    DATABASE_URL: optional(z.url({ protocol: /^postgres(ql)?$/ })),
    DATABASE_SSL: bool.default(false),
    /**
     * Where the Lambdas connect instead of the database secret's host: the RDS Proxy endpoint (the stack sets
     * it only with rdsProxy). User, password, port and database still come from the secret.
     */
    DATABASE_HOST: optional(
      z.hostname('expected a host name such as db.proxy-abc.us-east-1.rds.amazonaws.com'),
    ),
    // In AWS each secret has its own ARN, and each Lambda is given (and may read) only those it uses.
    DB_SECRET_ARN: optional(secretArn),
    TWILIO_SECRET_ARN: optional(secretArn),
    OPENAI_SECRET_ARN: optional(secretArn),
    API_SECRET_ARN: optional(secretArn),
    /** How long a secret read from Secrets Manager is trusted before it is read again (rotation). */
    SECRETS_MAX_AGE_SECONDS: int(0, 86_400).default(300),

    PUBLIC_BASE_URL: optional(z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''))),
    PORT: int(1, 65535).default(3000),

    TWILIO_FROM_NUMBER: optional(e164),
    TWILIO_MESSAGING_SERVICE_SID: optional(
      z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'expected MG + 32 hex digits'),
    ),
    // Empty means unset (as in .env.example): one-machine mode then picks the outbox's default.
    TWILIO_ADVANCED_OPT_OUT: z.preprocess((v) => (v === '' ? undefined : v), bool.default(true)),
    TWILIO_MESSAGES_PER_DAY: int(1).default(1000),
    TWILIO_MESSAGES_PER_SECOND: int(1, 1000).default(1),
    SMS_PRICE_PER_SEGMENT_USD: money.default(0.0083),

    /** Another OpenAI-compatible endpoint (a proxy, a regional endpoint, a gateway); unset: OpenAI's. */
    OPENAI_BASE_URL: optional(z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''))),
    OPENAI_MODEL: z
      .string()
      .regex(/^gpt-4/, 'expected a GPT-4-family model such as gpt-4o-mini')
      .default('gpt-4o-mini'),
    OPENAI_TOKENS_PER_MIN: int(1).default(10_000),
    OPENAI_REQUESTS_PER_MIN: int(1).default(50),
    OPENAI_EXPECTED_TOKENS_PER_MESSAGE: int(1, 100_000).default(250),
    OPENAI_PRICE_INPUT_PER_MTOK_USD: money.default(0.15),
    OPENAI_PRICE_OUTPUT_PER_MTOK_USD: money.default(0.6),
    /** required: a text moderation could not check is replaced by a curated one; best_effort: sent. */
    OPENAI_MODERATION: z.enum(['required', 'best_effort']).default('required'),
    DAILY_COST_LIMIT_USD: money.default(10),

    REDIS_URL: optional(z.url({ protocol: /^rediss?$/ })),
    RATE_LIMIT_STORE: optional(z.enum(['memory', 'postgres', 'redis'])),
    RATE_LIMIT_API_PER_MIN: int(1).default(30),
    RATE_LIMIT_INBOUND_PER_MIN: int(1).default(60),
    RATE_LIMIT_STATUS_PER_MIN: int(1).default(120),

    SEND_WINDOW_START: clockTime.default(12 * 60),
    SEND_WINDOW_END: clockTime.default(17 * 60),
    PLANNER_HORIZON_HOURS: int(25, 72).default(26),
    DEFAULT_TIMEZONE: z
      .string()
      .refine(isValidTimeZone, 'expected an IANA time zone such as America/New_York')
      // Stored on subscribers who first text START: one spelling per zone, as for every other input.
      .transform((zone) => canonicalTimeZone(zone) ?? zone)
      .default('America/New_York'),
    RETENTION_DAYS: int(1, 3650).default(90),
    CONSENT_RETENTION_DAYS: int(365, 36500).default(1825),
    /**
     * Days a sign-up nobody confirmed with YES is kept (its row, the name an operator gave) before the daily
     * cleanup deletes it: we never had that person's consent. The ledger's record of the request stays.
     */
    PENDING_EXPIRY_DAYS: int(1, 3650).default(30),

    SCHEDULER_GROUP_NAME: optional(z.string().regex(/^[0-9a-zA-Z-_.]{1,64}$/)),
    SCHEDULER_ROLE_ARN: optional(z.string().startsWith('arn:')),
    SCHEDULER_DLQ_ARN: optional(z.string().startsWith('arn:')),
    SENDER_FUNCTION_ARN: optional(z.string().startsWith('arn:')),
    /** SQS queue where the webhooks Lambda keeps webhooks while Postgres is unreachable. */
    WEBHOOK_SPOOL_QUEUE_URL: optional(z.url({ protocol: /^https$/ })),
    /**
     * The deployed stage's name and capacity inputs as JSON ({"stage", "settings"}), set by the stack on the
     * webhooks Lambda for GET /api/capacity. Locally the server reads config/<stage>.json instead.
     */
    CAPACITY_SETTINGS: optional(jsonText(DeployedCapacitySchema)),
  })
  .superRefine((s, ctx) => {
    if (s.SEND_WINDOW_END <= s.SEND_WINDOW_START) {
      ctx.addIssue({
        code: 'custom',
        path: ['SEND_WINDOW_END'],
        message: 'must be later than SEND_WINDOW_START',
      });
    }
    if (s.OPENAI_TOKENS_PER_MIN < s.OPENAI_EXPECTED_TOKENS_PER_MESSAGE) {
      ctx.addIssue({
        code: 'custom',
        path: ['OPENAI_EXPECTED_TOKENS_PER_MESSAGE'],
        message: 'must not exceed OPENAI_TOKENS_PER_MIN (not one message a minute would fit the budget)',
      });
    }
    if (s.RATE_LIMIT_STORE === 'redis' && !s.REDIS_URL) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'required when RATE_LIMIT_STORE=redis' });
    }
  });

const twilioAccountSid = z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'expected AC + 32 hex digits');
const twilioAuthToken = z.string().min(16, 'expected a Twilio auth token (32 characters)');
const openAiApiKey = z.string().min(20, 'expected an OpenAI API key');
const apiToken = z.string().min(24, 'must be at least 24 characters');

/**
 * Secrets as one-machine mode reads them: from the environment, each optional (a missing one switches to an
 * offline stand-in). Never given defaults. In AWS each comes from its own Secrets Manager secret instead
 * (SECRET_SOURCES below, src/adapters/secrets.ts).
 */
const SecretsSchema = z.object({
  TWILIO_ACCOUNT_SID: optional(twilioAccountSid),
  TWILIO_AUTH_TOKEN: optional(twilioAuthToken),
  OPENAI_API_KEY: optional(openAiApiKey),
  API_TOKEN: optional(apiToken),
});

export type Settings = z.output<typeof SettingsSchema>;
type Secrets = z.output<typeof SecretsSchema>;
/** One-machine mode's configuration: settings, and whatever secrets the environment has. */
export type Config = Settings & { secrets: Secrets };
export type SettingName = keyof Settings;

function describe(issues: z.core.$ZodIssue[], source: Record<string, unknown>): string[] {
  return issues.map((issue) => {
    const name = String(issue.path[0] ?? '(config)');
    const given = source[name];
    const missing = given === undefined || given === '';
    if (missing) return `${name}: ${issue.code === 'invalid_type' ? 'required' : issue.message} (missing)`;
    const isSecret = name in SecretsSchema.shape;
    return `${name}: ${issue.message} (${isSecret ? 'given' : `got ${JSON.stringify(given)}`})`;
  });
}

/**
 * An empty variable is an unset one, for every setting: `PORT=` (as a copy of .env.example leaves it) means
 * the default, as an empty secret or DATABASE_URL always did.
 */
function givenOnly<T>(env: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
}

function parseSettings(env: Record<string, unknown>): Settings {
  const settings = SettingsSchema.safeParse(givenOnly(env));
  if (!settings.success) throw new ConfigError(describe(settings.error.issues, env));
  return settings.data;
}

/** Parses settings and the optional secrets from the environment. Throws one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const settings = SettingsSchema.safeParse(givenOnly(env));
  if (!settings.success) problems.push(...describe(settings.error.issues, env));
  const secrets = SecretsSchema.safeParse(givenOnly(env));
  if (!secrets.success) problems.push(...describe(secrets.error.issues, env));
  if (problems.length > 0 || !settings.data || !secrets.data) throw new ConfigError(problems);
  return { ...settings.data, secrets: secrets.data };
}

/** Settings in which the named ones are known to be present: what `requireSettings` returns. */
export type Requiring<K extends SettingName> = Settings & { [P in K]-?: Exclude<Settings[P], undefined> };

/** Checks that each named setting is present and narrows the type to say so (no caller casts). */
export function requireSettings<S extends Settings, K extends SettingName>(
  settings: S,
  names: readonly K[],
): S & Requiring<K> {
  const missing = names.filter((name) => settings[name] === undefined);
  if (missing.length > 0) throw new ConfigError(missing.map((name) => `${name}: required here (missing)`));
  return settings as S & Requiring<K>;
}

// ── Secrets, one per use ──────────────────────────────────────────────────────────────────────────────

/**
 * Where each secret comes from: the secret named by `arn` (AWS), else the environment variables `env`
 * (one-machine mode, tests). Twilio, OpenAI and API secrets hold JSON objects with the same keys as the
 * environment; the database secret is the one RDS generates (username, password, host, port, dbname).
 */
export const SECRET_SOURCES = {
  db: { arn: 'DB_SECRET_ARN', env: ['DATABASE_URL'] },
  twilio: { arn: 'TWILIO_SECRET_ARN', env: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'] },
  openai: { arn: 'OPENAI_SECRET_ARN', env: ['OPENAI_API_KEY'] },
  api: { arn: 'API_SECRET_ARN', env: ['API_TOKEN'] },
} as const satisfies Record<SecretKind, { arn: SettingName; env: readonly string[] }>;

const RdsSecret = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().default(5432),
  dbname: z.string().min(1).default('postgres'),
});

const present = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);

/** Each secret's content, validated the same way whether it came from Secrets Manager or the environment. */
const SECRET_SCHEMAS: { [K in SecretKind]: z.ZodType<SecretValues[K]> } = {
  db: z.union([
    RdsSecret.transform(({ username, password, host, port, dbname }) => ({
      url: `postgres://${encodeURIComponent(username)}@${host}:${port}/${encodeURIComponent(dbname)}`,
      password,
    })),
    z
      .object({ DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }) })
      .transform((s) => ({ url: s.DATABASE_URL })),
  ]),
  twilio: z
    .object({ TWILIO_ACCOUNT_SID: present(twilioAccountSid), TWILIO_AUTH_TOKEN: present(twilioAuthToken) })
    .transform((s) => ({ accountSid: s.TWILIO_ACCOUNT_SID, authToken: s.TWILIO_AUTH_TOKEN })),
  openai: z
    .object({ OPENAI_API_KEY: present(openAiApiKey) })
    .transform((s) => ({ apiKey: s.OPENAI_API_KEY })),
  api: z.object({ API_TOKEN: present(apiToken) }).transform((s) => ({ apiToken: s.API_TOKEN })),
};

/**
 * Validates a secret's content. The error names the source and the bad or missing keys, never a value.
 * An RDS secret that lacks fields is reported by field ("DB_SECRET_ARN: secret lacks password, host").
 */
export function parseSecret<K extends SecretKind>(
  kind: K,
  content: unknown,
  source: string,
): SecretValues[K] {
  const parsed = SECRET_SCHEMAS[kind].safeParse(content);
  if (parsed.success) return parsed.data;
  if (kind === 'db') {
    const rds = RdsSecret.safeParse(content);
    const fields = rds.success ? [] : rds.error.issues.map((i) => i.path.join('.'));
    throw new ConfigError([`${source}: secret lacks ${fields.join(', ') || 'a valid database URL'}`]);
  }
  const record = content && typeof content === 'object' ? (content as Record<string, unknown>) : {};
  throw new ConfigError(describe(parsed.error.issues, record).map((p) => `${source}: ${p}`));
}

// ── What each Lambda needs ────────────────────────────────────────────────────────────────────────────

/**
 * The settings each Lambda requires and the secrets it reads (and is granted: lib/ gives each function
 * only the ARNs listed here). Its config type, LambdaConfig<name>, says the same to the compiler.
 */
export const LAMBDA_NEEDS = {
  sender: { settings: ['PUBLIC_BASE_URL', 'SCHEDULER_GROUP_NAME'], secrets: ['db', 'twilio', 'openai'] },
  // SENDER_FUNCTION_ARN: an operator's test send invokes the sender (never the OpenAI secret here).
  webhooks: {
    settings: ['PUBLIC_BASE_URL', 'SCHEDULER_GROUP_NAME', 'SENDER_FUNCTION_ARN', 'CAPACITY_SETTINGS'],
    secrets: ['db', 'twilio', 'api'],
  },
  planner: {
    settings: ['SCHEDULER_GROUP_NAME', 'SCHEDULER_ROLE_ARN', 'SCHEDULER_DLQ_ARN', 'SENDER_FUNCTION_ARN'],
    secrets: ['db'],
  },
  reconcile: { settings: [], secrets: ['db', 'twilio'] },
  cleanup: { settings: [], secrets: ['db'] },
  'daily-report': { settings: [], secrets: ['db'] },
  migrate: { settings: [], secrets: ['db'] },
} as const satisfies Record<string, { settings: readonly SettingName[]; secrets: readonly SecretKind[] }>;

type Needs = typeof LAMBDA_NEEDS;
export type LambdaName = keyof Needs;
export type LambdaSettings<N extends LambdaName> = Requiring<Needs[N]['settings'][number]>;
type LambdaCredentials<N extends LambdaName> = {
  [K in Needs[N]['secrets'][number]]: Credentials<SecretValues[K]>;
};
/** A Lambda's validated configuration: its required settings present, and exactly its secrets. */
export type LambdaConfig<N extends LambdaName> = LambdaSettings<N> & { credentials: LambdaCredentials<N> };

/** Where each secret of a Lambda comes from: a secret ARN, or the environment (tests, local runs). */
export type SecretSource = { kind: SecretKind } & ({ arn: string } | { env: Record<string, unknown> });

/**
 * A Lambda's settings, with what it requires checked, and the source of each of its secrets (an ARN wins
 * over the environment). One ConfigError lists every problem.
 */
export function lambdaSettings<N extends LambdaName>(
  name: N,
  env: Record<string, string | undefined>,
): { settings: LambdaSettings<N>; sources: SecretSource[] } {
  const problems: string[] = [];
  let settings: Settings | undefined;
  try {
    settings = requireSettings(parseSettings(env), LAMBDA_NEEDS[name].settings);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const sources: SecretSource[] = [];
  for (const kind of LAMBDA_NEEDS[name].secrets) {
    const { arn, env: names } = SECRET_SOURCES[kind];
    const arnValue = settings?.[arn];
    if (arnValue) sources.push({ kind, arn: arnValue });
    else if (names.some((n) => env[n])) sources.push({ kind, env: pick(env, names) });
    else if (!problems.some((p) => p.startsWith(`${arn}:`)))
      problems.push(`${arn}: required here (missing; or ${names.join(' and ')} in the environment)`);
  }
  if (problems.length > 0 || !settings) throw new ConfigError(problems);
  return { settings: settings as LambdaSettings<N>, sources };
}

function pick(env: Record<string, string | undefined>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, env[n]]));
}

/** Window bounds as minutes after local midnight, e.g. 720 for 12:00. */
export function sendWindow(config: Pick<Settings, 'SEND_WINDOW_START' | 'SEND_WINDOW_END'>) {
  return { startMinute: config.SEND_WINDOW_START, endMinute: config.SEND_WINDOW_END };
}

/** Every variable this service reads: settings, then secrets. */
export const CONFIG_NAMES: readonly string[] = [
  ...Object.keys(SettingsSchema.shape),
  ...Object.keys(SecretsSchema.shape),
];
