// The one place the environment is read. Every setting is validated together so a bad deployment fails
// at start-up with a single message naming every missing or invalid variable.
import * as z from 'zod';
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
const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number such as +14155550100');
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** Settings that are never secret: safe to put in a Lambda's environment. */
const SettingsSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
    SERVICE_NAME: z.string().min(1).max(40).default('Daily Positivity'),
    HELP_CONTACT: z.string().min(3).max(80).default('support@example.com'),

    DATABASE_URL: optional(z.url({ protocol: /^postgres(ql)?$/ })),
    DB_SECRET_ARN: optional(z.string().startsWith('arn:')),
    DATABASE_SSL: bool.default(false),
    APP_SECRET_ARN: optional(z.string().startsWith('arn:')),

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

    SCHEDULER_GROUP_NAME: optional(z.string().regex(/^[0-9a-zA-Z-_.]{1,64}$/)),
    SCHEDULER_ROLE_ARN: optional(z.string().startsWith('arn:')),
    SCHEDULER_DLQ_ARN: optional(z.string().startsWith('arn:')),
    SENDER_FUNCTION_ARN: optional(z.string().startsWith('arn:')),
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

/**
 * Secrets: from the environment locally, from the Secrets Manager secret named by APP_SECRET_ARN in AWS
 * (a JSON object with the same keys). Never given defaults: a missing secret is either an error or, in
 * one-machine mode, an explicit switch to an offline stand-in.
 */
export const SecretsSchema = z.object({
  TWILIO_ACCOUNT_SID: optional(z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'expected AC + 32 hex digits')),
  TWILIO_AUTH_TOKEN: optional(z.string().min(16, 'expected a Twilio auth token (32 characters)')),
  OPENAI_API_KEY: optional(z.string().min(20, 'expected an OpenAI API key')),
  API_TOKEN: optional(z.string().min(24, 'must be at least 24 characters')),
});

export type Settings = z.output<typeof SettingsSchema>;
export type Secrets = z.output<typeof SecretsSchema>;
export type Config = Settings & { secrets: Secrets };
export type SettingName = keyof Settings;
export type SecretName = keyof Secrets;

function describe(issues: z.core.$ZodIssue[], env: Record<string, unknown>): string[] {
  return issues.map((issue) => {
    const name = String(issue.path[0] ?? '(config)');
    const given = env[name];
    const isSecret = name in SecretsSchema.shape;
    const shown = given === undefined ? 'missing' : isSecret ? 'given' : `got ${JSON.stringify(given)}`;
    return `${name}: ${issue.message} (${shown})`;
  });
}

/**
 * Parses settings and secrets from one source (usually process.env) and checks that each name in
 * `require` is present. Throws one ConfigError listing every problem.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  options: { require?: (SettingName | SecretName)[]; secrets?: Record<string, unknown> } = {},
): Config {
  const problems: string[] = [];
  const settings = SettingsSchema.safeParse(env);
  if (!settings.success) problems.push(...describe(settings.error.issues, env));
  const secretSource = options.secrets ?? env;
  const secrets = SecretsSchema.safeParse(secretSource);
  if (!secrets.success) problems.push(...describe(secrets.error.issues, secretSource));

  for (const name of options.require ?? []) {
    const value =
      name in SecretsSchema.shape ? secrets.data?.[name as SecretName] : settings.data?.[name as SettingName];
    const alreadyReported = problems.some((p) => p.startsWith(`${name}:`));
    if (value === undefined && !alreadyReported) problems.push(`${name}: required here (missing)`);
  }
  if (problems.length > 0 || !settings.data || !secrets.data) throw new ConfigError(problems);
  return { ...settings.data, secrets: secrets.data };
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
