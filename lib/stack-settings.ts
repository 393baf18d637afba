// Deploy-time settings from cdk.json context (or `cdk deploy -c key=value`), validated together so a bad
// value stops `cdk synth` with one message naming every problem. DEPLOYMENT.md documents each key.
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { z } from 'zod';

const LOG_RETENTION_DAYS = Object.values(RetentionDays).filter(
  (d): d is number => typeof d === 'number' && d > 0,
);

export const StackSettingsSchema = z.object({
  /** Names the stack and its resources; `prod` turns on deletion protection. */
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,19}$/, 'expected lower-case letters, digits and -, such as prod'),
  /** Receives every alarm and the monthly budget alerts (through the alarm SNS topic). */
  alertEmail: z.email('expected an email address'),
  /** When the planner runs, as an EventBridge cron expression in UTC. */
  dailyCron: z.string().regex(/^cron\(\S+( \S+){5}\)$/, 'expected cron(min hour day month weekday year)'),
  /** The Twilio number messages are sent from (E.164). */
  twilioFromNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number such as +14155550100'),
  /** The Twilio send pace; sizes the sender's reserved concurrency and is passed to the Lambdas. */
  twilioMessagesPerSecond: z.coerce.number().int().min(1).max(100),
  /** Days message bodies, inbound texts and status events are kept in the database (RETENTION_DAYS). */
  retentionDays: z.coerce.number().int().min(1).max(3650),
  /** Days CloudWatch keeps Lambda, API and flow logs. */
  logRetentionDays: z.coerce
    .number()
    .int()
    .refine((d) => LOG_RETENTION_DAYS.includes(d), `expected one of ${LOG_RETENTION_DAYS.join(', ')}`),
  /** Monthly AWS cost above which alertEmail is warned (AWS Budgets). */
  monthlyBudgetUsd: z.coerce.number().positive().max(100_000),
  /** DAILY_COST_LIMIT_USD: the sender skips with `cost_cap` at this estimated daily spend; the cost alarm too. */
  dailyCostLimitUsd: z.coerce.number().positive().max(10_000),
  /** Alarm when failed + undelivered messages exceed this percentage of messages sent in 6 hours. */
  deliveryFailureRatePercent: z.coerce.number().positive().max(100),
  /** Alarm when the database's free storage stays below this many GiB for 15 minutes. */
  databaseFreeStorageAlarmGib: z.coerce.number().positive().max(1000),
});

export type StackSettings = z.output<typeof StackSettingsSchema>;
export const SETTING_KEYS = Object.keys(StackSettingsSchema.shape) as (keyof StackSettings)[];

export class StackSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid cdk.json context:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'StackSettingsError';
  }
}

/** Reads every setting from the construct tree's context (cdk.json `context`, then `-c` overrides). */
export function readStackSettings(node: Node): StackSettings {
  const raw = Object.fromEntries(SETTING_KEYS.map((key) => [key, node.tryGetContext(key)]));
  const parsed = StackSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new StackSettingsError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0]);
        const given = raw[key];
        return `${key}: ${i.message} (${given === undefined ? 'missing' : `got ${JSON.stringify(given)}`})`;
      }),
    );
  }
  return parsed.data;
}
