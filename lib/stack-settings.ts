// Every operator setting of one stage, in one typed object: config/<stage>.json, then `-c key=value` on top,
// validated together so a bad stage stops `cdk synth` with one message naming every problem. Settings the
// Lambdas read travel as plain environment variables and are checked by the Lambdas' own validator
// (src/config.ts) here, at synth, so a value the Lambdas would refuse never deploys. DEPLOYMENT.md
// documents each key. No CDK import: `positivity capacity` reads the same settings.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Node } from 'constructs';
import * as z from 'zod';
import { ConfigError, loadConfig, type SettingName, type Settings } from '../src/config.js';
import {
  type CapacitySettings,
  DATABASE_INSTANCE_TYPES,
  type DatabaseInstanceType,
  stackCapacityProblems,
} from '../src/domain/capacity.js';

export const CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'config');

/** The retention periods CloudWatch Logs accepts (a test keeps this in step with aws-cdk-lib's RetentionDays). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Amazon Linux 2023 (arm64) public AMIs are published under this Systems Manager parameter. */
export const AL2023_ARM64_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';

/** Twilio's magic test numbers (+1 500 555 xxxx): they work only with test credentials and reach nobody. */
const TWILIO_TEST_NUMBER = /^\+1500555\d{4}$/;
const PLACEHOLDER_EMAIL = /@example\.(com|org|net)$/i;

const number = z.coerce.number();
const flag = z.union([z.boolean(), z.stringbool()]);
/** A value passed through to a Lambda; src/config.ts validates it (see `validateForLambdas`). */
const passThrough = z.union([z.string(), z.number()]).transform(String).optional();

const StackSettingsSchema = z
  .object({
    /** Names the stack and its resources; `prod` turns on deletion protection; any stage but `dev` must be real. */
    // `daily-positivity-<stage>` names the RDS instance and proxy: RDS wants a letter first and no
    // hyphen doubled or last (≤ 63 characters), and 17 + 20 leaves room in the 64 of a schedule group.
    stage: z
      .string()
      .max(20, 'expected at most 20 characters')
      .regex(
        /^[a-z](-?[a-z0-9])*$/,
        'expected lower-case letters and digits, single hyphens between them, a letter first, such as prod',
      ),
    /** Receives every alarm and the monthly budget alerts (through the alarm SNS topic). CDK only. */
    alertEmail: z.email('expected an email address'),
    /** Monthly AWS cost above which alertEmail is warned (AWS Budgets). CDK only. */
    monthlyBudgetUsd: number.positive().max(100_000).default(50),
    /** When the planner runs, as an EventBridge cron expression in UTC. */
    dailyCron: z
      .string()
      .regex(/^cron\(\S+( \S+){5}\)$/, 'expected cron(min hour day month weekday year)')
      .default('cron(0 6 * * ? *)'),

    // ── Passed to the Lambdas (names in LAMBDA_ENVIRONMENT) ──
    twilioFromNumber: passThrough,
    twilioMessagingServiceSid: passThrough,
    twilioMessagesPerSecond: passThrough,
    twilioMessagesPerDay: passThrough,
    serviceName: passThrough,
    helpContact: passThrough,
    openaiModel: passThrough,
    openaiTokensPerMinute: passThrough,
    openaiRequestsPerMinute: passThrough,
    dailyCostLimitUsd: passThrough,
    retentionDays: passThrough,
    pendingExpiryDays: passThrough,
    sendWindowStart: passThrough,
    sendWindowEnd: passThrough,
    defaultTimeZone: passThrough,

    // ── Monitoring ──
    /** Days CloudWatch keeps Lambda, API, RDS and flow logs. */
    logRetentionDays: number
      .int()
      .refine(
        (d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d),
        `expected one of ${LOG_RETENTION_DAYS.join(', ')}`,
      )
      .default(30),
    /** Alarm when failed + undelivered messages exceed this percentage of messages sent in 6 hours. */
    deliveryFailureRatePercent: number.positive().max(100).default(5),
    /** Alarm when the database's free storage stays below this many GiB for 15 minutes. */
    databaseFreeStorageAlarmGib: number.positive().max(1000).default(2),
    /** Alarm when the oldest webhook kept in the spool (database unreachable) has waited this long. */
    webhookSpoolOldestAgeAlarmMinutes: number
      .int()
      .positive()
      .max(24 * 60)
      .default(15),
    /** Alarm when this many kept webhooks are in the spool's dead-letter queue (never applied on their own). */
    webhookSpoolDeadLettersAlarm: number.int().positive().default(1),
    /**
     * Alarm status-callbacks-silent counts an hour as silent when the sender sent at least this many messages
     * in it and no final status (delivered, undelivered, failed) came back; 2 such hours of 3 page.
     */
    statusCallbacksSilentSendsPerHour: number.int().positive().default(10),

    // ── Infrastructure and account quotas ──
    /** The Lambdas' way out: a hardened NAT instance (~$7.40/month) or a NAT gateway (~$36.50/month). */
    egress: z.enum(['nat-instance', 'nat-gateway']).default('nat-instance'),
    /**
     * The NAT instance's AMI, pinned: it changes only when you change it. Required outside dev with
     * egress nat-instance; dev without one follows the latest Amazon Linux 2023 (replaced when AWS
     * publishes a new image).
     */
    natImageId: z
      .string()
      .regex(/^ami-[0-9a-f]{8,17}$/, 'expected an AMI id such as ami-0123456789abcdef0')
      .optional(),
    /** RDS instance class (without `db.`); memory sets max_connections for the capacity check. */
    databaseInstanceType: z
      .enum(DATABASE_INSTANCE_TYPES as [DatabaseInstanceType, ...DatabaseInstanceType[]])
      .default('t4g.micro'),
    /** Put RDS Proxy between the Lambdas and the database (for high msg/s; ~$21.90/month on 2 vCPUs). */
    rdsProxy: flag.default(false),
    /** The account's Lambda "Concurrent executions" quota (a new account has 10). */
    lambdaConcurrencyQuota: number.int().min(10).max(1_000_000).default(10),
    /** The account's EventBridge Scheduler "CreateSchedule request rate" quota, per second. */
    schedulerCreateSchedulePerSecond: number.int().min(1).max(100_000).default(250),
    /** The account's EventBridge Scheduler "Number of schedules" quota. */
    schedulerMaxSchedules: number.int().min(1).default(1_000_000),
  })
  .strict();

type Parsed = z.output<typeof StackSettingsSchema>;
export type StackSettingKey = keyof Parsed;
export const SETTING_KEYS = Object.keys(StackSettingsSchema.shape) as StackSettingKey[];

/** Which setting becomes which Lambda environment variable (the names src/config.ts reads). */
export const LAMBDA_ENVIRONMENT = {
  twilioFromNumber: 'TWILIO_FROM_NUMBER',
  twilioMessagingServiceSid: 'TWILIO_MESSAGING_SERVICE_SID',
  twilioMessagesPerSecond: 'TWILIO_MESSAGES_PER_SECOND',
  twilioMessagesPerDay: 'TWILIO_MESSAGES_PER_DAY',
  serviceName: 'SERVICE_NAME',
  helpContact: 'HELP_CONTACT',
  openaiModel: 'OPENAI_MODEL',
  openaiTokensPerMinute: 'OPENAI_TOKENS_PER_MIN',
  openaiRequestsPerMinute: 'OPENAI_REQUESTS_PER_MIN',
  dailyCostLimitUsd: 'DAILY_COST_LIMIT_USD',
  retentionDays: 'RETENTION_DAYS',
  pendingExpiryDays: 'PENDING_EXPIRY_DAYS',
  sendWindowStart: 'SEND_WINDOW_START',
  sendWindowEnd: 'SEND_WINDOW_END',
  defaultTimeZone: 'DEFAULT_TIMEZONE',
} as const satisfies Partial<Record<StackSettingKey, SettingName>>;
type LambdaSettingKey = keyof typeof LAMBDA_ENVIRONMENT;

export interface StackSettings extends Omit<Parsed, LambdaSettingKey> {
  /** The Lambdas' view of every setting (src/config.ts defaults filled in), as they will parse it. */
  runtime: Settings;
  /** Plain environment for every Lambda: the LAMBDA_ENVIRONMENT names with their resolved values. */
  lambdaEnvironment: Record<string, string>;
  /** The inputs of the capacity arithmetic (src/domain/capacity.ts). */
  capacity: CapacitySettings;
}

export class StackSettingsError extends Error {
  constructor(
    readonly problems: string[],
    source = 'settings',
  ) {
    super(`Invalid ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'StackSettingsError';
  }
}

const shown = (v: unknown) => (v === undefined ? 'missing' : `got ${JSON.stringify(v)}`);

/** Reads config/<stage>.json; a missing file is no settings (undefined), a broken one is a problem. */
function readConfigFile(file: string, problems: string[]): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
    problems.push(`${path.basename(file)}: expected a JSON object`);
  } catch (error) {
    problems.push(`${path.basename(file)}: not valid JSON (${(error as Error).message})`);
  }
  return {};
}

/**
 * Rules for every stage but dev: nothing that only works with test credentials or reaches nobody. Reads the
 * raw values, so it reports alongside type errors in other keys.
 */
function productionProblems(raw: Record<string, unknown>): string[] {
  const stage = String(raw.stage);
  if (stage === 'dev') return [];
  const text = (key: string) => (raw[key] === undefined || raw[key] === '' ? undefined : String(raw[key]));
  const problems: string[] = [];
  const from = text('twilioFromNumber');
  if (!from && !text('twilioMessagingServiceSid'))
    problems.push(
      `twilioFromNumber / twilioMessagingServiceSid: stage ${stage} needs a real sender: set a Twilio number you own (E.164) or a Messaging Service SID (MG…)`,
    );
  if (from && TWILIO_TEST_NUMBER.test(from))
    problems.push(
      `twilioFromNumber: ${from} is a Twilio test number that reaches nobody; stage ${stage} needs a number you own, or a Messaging Service SID`,
    );
  const alertEmail = text('alertEmail');
  if (alertEmail && PLACEHOLDER_EMAIL.test(alertEmail))
    problems.push(`alertEmail: ${alertEmail} is a placeholder; stage ${stage} needs an inbox someone reads`);
  const help = text('helpContact');
  if (!help || /example\.(com|org|net)/i.test(help))
    problems.push(
      `helpContact: stage ${stage} must say where HELP replies send people (an email address or phone number you answer) (${shown(raw.helpContact)})`,
    );
  if ((text('egress') ?? 'nat-instance') === 'nat-instance' && !text('natImageId'))
    problems.push(
      `natImageId: stage ${stage} pins the NAT instance's image; get today's with \`aws ssm get-parameter --name ${AL2023_ARM64_PARAMETER} --query Parameter.Value --output text\` (or set egress to nat-gateway)`,
    );
  return problems;
}

/** Alarm thresholds the stage's own settings would keep from ever being reached. */
function monitoringProblems(
  s: Pick<Parsed, 'statusCallbacksSilentSendsPerHour'>,
  runtime: Settings,
): string[] {
  const mostPerHour = runtime.TWILIO_MESSAGES_PER_SECOND * 3600;
  if (s.statusCallbacksSilentSendsPerHour <= mostPerHour) return [];
  return [
    `statusCallbacksSilentSendsPerHour: expected at most ${mostPerHour.toLocaleString('en-US')} (an hour at twilioMessagesPerSecond ${runtime.TWILIO_MESSAGES_PER_SECOND}), or the status-callbacks-silent alarm can never fire (got ${s.statusCallbacksSilentSendsPerHour})`,
  ];
}

/** The Lambdas' own validator over the environment they will get; problems are named by setting. */
function validateForLambdas(raw: Record<string, unknown>, problems: string[]): Settings | undefined {
  const env: Record<string, string> = {};
  for (const [key, name] of Object.entries(LAMBDA_ENVIRONMENT)) {
    const value = raw[key];
    if (value !== undefined && value !== '') env[name] = String(value);
  }
  try {
    const { secrets: _none, ...runtime } = loadConfig(env);
    return runtime;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const byEnv = Object.fromEntries(Object.entries(LAMBDA_ENVIRONMENT).map(([k, n]) => [n, k]));
    for (const problem of error.problems) {
      const name = problem.split(':')[0] ?? '';
      // "TWILIO_FROM_NUMBER: expected …" → "twilioFromNumber (TWILIO_FROM_NUMBER): expected …"
      problems.push(byEnv[name] ? `${byEnv[name]} (${name}):${problem.slice(name.length + 1)}` : problem);
    }
    return undefined;
  }
}

/** Every Lambda-facing setting with the value the Lambdas will use (defaults from src/config.ts). */
function resolvedEnvironment(runtime: Settings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of Object.values(LAMBDA_ENVIRONMENT)) {
    const value = runtime[name];
    if (value === undefined) continue;
    // Windows are parsed to minutes after midnight; give the Lambdas the HH:MM they read.
    env[name] =
      name === 'SEND_WINDOW_START' || name === 'SEND_WINDOW_END'
        ? `${String(Math.floor(Number(value) / 60)).padStart(2, '0')}:${String(Number(value) % 60).padStart(2, '0')}`
        : String(value);
  }
  return env;
}

export interface LoadOptions {
  stage?: string;
  /** `-c key=value` values (or any overrides); undefined and '' mean "not given". */
  overrides?: Record<string, unknown>;
  configDir?: string;
}

function capacitySettings(
  s: Pick<
    Parsed,
    | 'lambdaConcurrencyQuota'
    | 'databaseInstanceType'
    | 'rdsProxy'
    | 'schedulerCreateSchedulePerSecond'
    | 'schedulerMaxSchedules'
    | 'egress'
  >,
  runtime: Settings,
): CapacitySettings {
  return {
    messagesPerSecond: runtime.TWILIO_MESSAGES_PER_SECOND,
    messagesPerDay: runtime.TWILIO_MESSAGES_PER_DAY,
    accountConcurrency: s.lambdaConcurrencyQuota,
    databaseInstanceType: s.databaseInstanceType,
    rdsProxy: s.rdsProxy,
    sendWindow: { startMinute: runtime.SEND_WINDOW_START, endMinute: runtime.SEND_WINDOW_END },
    openaiTokensPerMinute: runtime.OPENAI_TOKENS_PER_MIN,
    openaiRequestsPerMinute: runtime.OPENAI_REQUESTS_PER_MIN,
    openaiExpectedTokensPerMessage: runtime.OPENAI_EXPECTED_TOKENS_PER_MESSAGE,
    openaiInputPerMTokUsd: runtime.OPENAI_PRICE_INPUT_PER_MTOK_USD,
    openaiOutputPerMTokUsd: runtime.OPENAI_PRICE_OUTPUT_PER_MTOK_USD,
    smsPricePerSegmentUsd: runtime.SMS_PRICE_PER_SEGMENT_USD,
    dailyCostLimitUsd: runtime.DAILY_COST_LIMIT_USD,
    schedulerCreatePerSecond: s.schedulerCreateSchedulePerSecond,
    schedulerMaxSchedules: s.schedulerMaxSchedules,
    egress: s.egress,
  };
}

/** The one stage whose built-in defaults are a stage on their own (config/dev.json is committed anyway). */
const STAGE_WITHOUT_FILE = 'dev';

/** The closest known setting to a mistyped key, if one is close enough to be what was meant. */
function closestKey(key: string): string | undefined {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++)
        next[j] = Math.min(
          (row[j] ?? 0) + 1,
          (next[j - 1] ?? 0) + 1,
          (row[j - 1] ?? 0) + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
        );
      row = next;
    }
    return row[b.length] ?? Number.POSITIVE_INFINITY;
  };
  const [best] = SETTING_KEYS.map((k) => ({ k, d: distance(key, k) })).sort((x, y) => x.d - y.d);
  return best && best.d <= Math.max(2, Math.floor(key.length / 4)) ? best.k : undefined;
}

/**
 * config/<stage>.json with the overrides on top; a broken file, a bad stage name and an unknown override
 * are problems. `fileMissing` says the stage has no file (its settings are defaults and overrides only).
 */
function rawSettings(
  options: LoadOptions,
  problems: string[],
): { raw: Record<string, unknown>; fileMissing: boolean } {
  const stage = options.stage ?? STAGE_WITHOUT_FILE;
  const fileName = `${stage}.json`;
  // Checked before the name becomes a path: `../package` must not read ../package.json.
  const validStage = StackSettingsSchema.shape.stage.safeParse(stage);
  const fromFile = validStage.success
    ? readConfigFile(path.join(options.configDir ?? CONFIG_DIR, fileName), problems)
    : {};
  if (fromFile && 'stage' in fromFile)
    problems.push(`${fileName}: "stage" comes from the file name; remove it`);
  const given: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    // `stage` is options.stage (readStackSettings passes every context key, stage included).
    if (value === undefined || value === '' || key === 'stage') continue;
    if ((SETTING_KEYS as string[]).includes(key)) given[key] = value;
    else {
      const near = closestKey(key);
      problems.push(
        `${key}: not a setting (${near ? `did you mean ${near}?` : 'see DEPLOYMENT.md section 2 for the keys'})`,
      );
    }
  }
  return { raw: { ...fromFile, ...given, stage }, fileMissing: fromFile === undefined };
}

/** The problem of a stage with no config/<stage>.json. */
function missingFileProblem(stage: string): string {
  return `config/${stage}.json does not exist: write it (DEPLOYMENT.md section 2) or check the stage name`;
}

const QuotaSettingsSchema = z.object({
  lambdaConcurrencyQuota: StackSettingsSchema.shape.lambdaConcurrencyQuota,
  databaseInstanceType: StackSettingsSchema.shape.databaseInstanceType,
  rdsProxy: StackSettingsSchema.shape.rdsProxy,
  schedulerCreateSchedulePerSecond: StackSettingsSchema.shape.schedulerCreateSchedulePerSecond,
  schedulerMaxSchedules: StackSettingsSchema.shape.schedulerMaxSchedules,
  egress: StackSettingsSchema.shape.egress,
});

function issuesOf(error: z.ZodError, raw: Record<string, unknown>, fileName: string, of?: string): string[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => `${key}: not a setting (in ${fileName}; see DEPLOYMENT.md)`);
    const key = of ?? String(issue.path[0] ?? '(settings)');
    return [`${key}: ${issue.message} (${shown(raw[key])})`];
  });
}

/**
 * The capacity inputs of a stage, for `positivity capacity`: only the values the arithmetic reads are
 * validated, and neither the deploy rules nor the capacity check itself apply, so a stage that does not
 * fit (or is not ready to deploy) can still be reported on.
 */
export function loadCapacitySettings(options: LoadOptions = {}): CapacitySettings {
  const problems: string[] = [];
  const { raw, fileMissing } = rawSettings(options, problems);
  const stageName = StackSettingsSchema.shape.stage.safeParse(raw.stage);
  if (!stageName.success) problems.push(...issuesOf(stageName.error, raw, `${raw.stage}.json`, 'stage'));
  // A typo in --stage must not report on the built-in defaults as if they were that stage's.
  else if (fileMissing && raw.stage !== STAGE_WITHOUT_FILE)
    problems.push(missingFileProblem(String(raw.stage)));
  if (problems.length > 0) throw new StackSettingsError(problems, `settings for stage ${raw.stage}`);
  const runtime = validateForLambdas(raw, problems);
  const quotas = QuotaSettingsSchema.safeParse(raw);
  if (!quotas.success) problems.push(...issuesOf(quotas.error, raw, `${raw.stage}.json`));
  if (!runtime || !quotas.success || problems.length > 0)
    throw new StackSettingsError(problems, `settings for stage ${raw.stage}`);
  return capacitySettings(quotas.data, runtime);
}

/** config/<stage>.json, then overrides, validated and checked for capacity; throws one StackSettingsError. */
export function loadStackSettings(options: LoadOptions = {}): StackSettings {
  const stage = options.stage ?? 'dev';
  const problems: string[] = [];
  const fileName = `${stage}.json`;
  const { raw, fileMissing } = rawSettings(options, problems);
  const parsed = StackSettingsSchema.safeParse(raw);
  if (!parsed.success) problems.push(...issuesOf(parsed.error, raw, fileName));
  problems.push(...productionProblems(raw));
  const runtime = validateForLambdas(raw, problems);
  if (parsed.success && runtime) problems.push(...monitoringProblems(parsed.data, runtime));
  // Capacity is checked whenever the values it needs are valid, so it is reported with everything else.
  const quotas = QuotaSettingsSchema.safeParse(raw);
  const capacity = quotas.success && runtime ? capacitySettings(quotas.data, runtime) : undefined;
  if (capacity) problems.push(...stackCapacityProblems(capacity));
  // A stage can be given entirely with `-c key=value` (deploy.yml's variables), so a missing file is not
  // a problem of its own; when something is wrong, the heading says so: the file may be what is missing.
  if (!parsed.success || !runtime || !capacity || problems.length > 0) {
    const noFile = fileMissing && stage !== STAGE_WITHOUT_FILE ? ` (${missingFileProblem(stage)})` : '';
    throw new StackSettingsError(problems, `settings for stage ${stage}${noFile}`);
  }
  const s = parsed.data;

  const stackOnly = Object.fromEntries(Object.entries(s).filter(([k]) => !(k in LAMBDA_ENVIRONMENT))) as Omit<
    Parsed,
    LambdaSettingKey
  >;
  return { ...stackOnly, runtime, lambdaEnvironment: resolvedEnvironment(runtime), capacity };
}

/** The stage named by context `stage` (cdk.json, or `-c stage=prod`), with every other key as an override. */
export function readStackSettings(node: Node, configDir?: string): StackSettings {
  const stage = node.tryGetContext('stage');
  const overrides = Object.fromEntries(SETTING_KEYS.map((k) => [k, node.tryGetContext(k)]));
  return loadStackSettings({ stage: stage === undefined ? undefined : String(stage), overrides, configDir });
}
