// Capacity arithmetic: what a day of sends needs from Twilio, OpenAI, EventBridge Scheduler, Lambda and the
// database, and what the stack costs a month. Pure (no I/O, no clock): the CDK stack checks a stage at synth
// with it (lib/stack-settings.ts) and `positivity capacity` prints it, so both always show the same numbers.
import { IANAZone } from 'luxon';
import * as z from 'zod';
import { DB_POOL_SIZE } from './database-pools.js';
import type { Exactly } from './exactly.js';
import { isValidTimeZone } from './time-zone.js';

/** Lambda keeps this much of the account's concurrency unreserved; reservations must leave it free. */
export const LAMBDA_MIN_UNRESERVED = 100;
/** Seconds one send takes at worst in normal operation: OpenAI writing (~1–3 s) plus Twilio's create call. */
const SEND_SECONDS_BUDGET = 5;
/** Webhook requests per message sent: Twilio's `sent` and `delivered` callbacks plus replies now and then. */
const WEBHOOK_REQUESTS_PER_MESSAGE = 3;
/** Seconds one webhook request holds a container at worst in normal operation (one or two queries). */
const WEBHOOK_SECONDS_BUDGET = 0.5;
/**
 * Webhooks the spool consumer (SQS → the webhooks Lambda, lib/constructs/webhook-spool.ts) applies at
 * once after a database outage. They run in the webhooks function's reservation, so it holds this many
 * more than the live webhooks need: draining a backlog must not turn Twilio's requests away.
 */
export const WEBHOOK_SPOOL_CONCURRENCY = 2;
/** Share of the instance's max_connections the Lambdas may use at worst; the rest is headroom (below). */
export const CONNECTIONS_SAFE_SHARE = 0.5;
/** Seconds of one planner run spent creating schedules (its timeout is 15 minutes; the rest is slack). */
const PLANNER_RUN_SECONDS = 14 * 60;
/**
 * Deliveries pending per subscriber at the busiest moment: the 26-hour horizon reaches two windows in some
 * zones (docs/planner.md measured 129,169 deliveries for 100,000 subscribers).
 */
const PENDING_SCHEDULES_PER_SUBSCRIBER = 1.3;
/** Tokens one message uses on average, measured over 300 messages (docs/sender.md). */
const MEASURED_TOKENS_PER_MESSAGE = { input: 163.6, output: 34.8 } as const;
/** How often the egress probe checks that the Lambdas' subnets reach the internet. */
export const EGRESS_PROBE_MINUTES = 10;
const HOURS_PER_MONTH = 730;
const DAYS_PER_MONTH = 30;

export type DatabaseClient = keyof typeof DB_POOL_SIZE;
/** Database clients outside the app's Lambdas: the Secrets Manager password-rotation function. */
export const OTHER_DB_CONNECTIONS = 1;

/**
 * RDS PostgreSQL instance classes this stack offers: memory sets max_connections, vCPUs set RDS Proxy's
 * price. Prices: us-east-1 on-demand, single-AZ PostgreSQL list prices (USD per hour) used for estimates.
 */
const DATABASE_INSTANCES = {
  't4g.micro': { memoryGiB: 1, vcpus: 2, usdPerHour: 0.016 },
  't4g.small': { memoryGiB: 2, vcpus: 2, usdPerHour: 0.032 },
  't4g.medium': { memoryGiB: 4, vcpus: 2, usdPerHour: 0.065 },
  't4g.large': { memoryGiB: 8, vcpus: 2, usdPerHour: 0.129 },
  't4g.xlarge': { memoryGiB: 16, vcpus: 4, usdPerHour: 0.258 },
  'm7g.large': { memoryGiB: 8, vcpus: 2, usdPerHour: 0.168 },
  'm7g.xlarge': { memoryGiB: 16, vcpus: 4, usdPerHour: 0.337 },
  'm7g.2xlarge': { memoryGiB: 32, vcpus: 8, usdPerHour: 0.674 },
} as const;
export type DatabaseInstanceType = keyof typeof DATABASE_INSTANCES;
export const DATABASE_INSTANCE_TYPES = Object.keys(DATABASE_INSTANCES) as DatabaseInstanceType[];

export type Egress = 'nat-instance' | 'nat-gateway';

/** us-east-1 list prices (USD) behind the monthly estimate; DEPLOYMENT.md shows the arithmetic. */
const PRICES = {
  databaseStorageGbMonth: 0.115,
  databaseStorageGb: 20,
  natInstanceT4gNanoHour: 0.0042,
  natInstanceVolumeGbMonth: 0.08,
  natInstanceVolumeGb: 8,
  natGatewayHour: 0.045,
  natGatewayPerGb: 0.045,
  publicIpv4Hour: 0.005,
  rdsProxyVcpuHour: 0.015,
  /** RDS Proxy bills at least this many vCPUs. */
  rdsProxyMinVcpus: 2,
  secretMonth: 0.4,
  alarmMonth: 0.1,
  dashboardMonth: 3,
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  schedulerInvocation: 1 / 1e6,
  httpApiRequest: 1 / 1e6,
} as const;
/** What the stack holds that bills by the month whatever the traffic. */
export const STACK_INVENTORY = { secrets: 4, alarms: 18, dashboards: 1 } as const;

/** Concurrency that keeps up with the Twilio pace: `perSecond` sends, each busy for SEND_SECONDS_BUDGET. */
export function senderConcurrency(messagesPerSecond: number): number {
  return Math.max(2, Math.ceil(messagesPerSecond * SEND_SECONDS_BUDGET));
}

/** Concurrency for the webhooks Lambda: the status callbacks of `perSecond` sends, plus room for replies. */
export function webhooksConcurrency(messagesPerSecond: number): number {
  return Math.max(5, Math.ceil(messagesPerSecond * WEBHOOK_REQUESTS_PER_MESSAGE * WEBHOOK_SECONDS_BUDGET));
}

/**
 * The HTTP API stage's throttle (an outer limit; the app has per-sender and per-token limits): at least
 * 50 requests/s with bursts of 100, and twice the status callbacks of the send pace above that, so Twilio's
 * callbacks are never the requests API Gateway turns away.
 */
export function apiThrottle(messagesPerSecond: number): { rateLimit: number; burstLimit: number } {
  const rateLimit = Math.max(50, Math.ceil(messagesPerSecond * WEBHOOK_REQUESTS_PER_MESSAGE * 2));
  return { rateLimit, burstLimit: rateLimit * 2 };
}

export interface ConcurrencyPlan {
  /**
   * `reserved`: every function that opens database connections has reserved concurrency (its cap).
   * `shared`: the account's quota leaves nothing to reserve (a new account has 10), so no function
   * reserves; the account quota itself caps them all together.
   */
  mode: 'reserved' | 'shared';
  /** What each function needs; in `reserved` mode also its ReservedConcurrentExecutions. */
  need: Record<DatabaseClient, number>;
  totalNeed: number;
  /** The most each function can run at once. */
  max: Record<DatabaseClient, number>;
  /** Worst-case Postgres connections: every container of every function with a full pool. */
  worstCaseConnections: number;
}

export function concurrencyPlan(input: {
  messagesPerSecond: number;
  accountConcurrency: number;
}): ConcurrencyPlan {
  const need: Record<DatabaseClient, number> = {
    sender: senderConcurrency(input.messagesPerSecond),
    // Live webhooks, plus the spool consumer running in the same function's reservation.
    webhooks: webhooksConcurrency(input.messagesPerSecond) + WEBHOOK_SPOOL_CONCURRENCY,
    // One run at a time: a retried event must not race the run it retries.
    planner: 1,
    migrate: 1,
    cleanup: 1,
    reconcile: 1,
    'daily-report': 1,
  };
  const clients = Object.keys(need) as DatabaseClient[];
  const totalNeed = clients.reduce((sum, c) => sum + need[c], 0);
  const reservable = Math.max(0, input.accountConcurrency - LAMBDA_MIN_UNRESERVED);
  if (reservable >= totalNeed) {
    const worst = clients.reduce((sum, c) => sum + need[c] * DB_POOL_SIZE[c], 0);
    return {
      mode: 'reserved',
      need,
      totalNeed,
      max: need,
      worstCaseConnections: worst + OTHER_DB_CONNECTIONS,
    };
  }
  const max = Object.fromEntries(clients.map((c) => [c, input.accountConcurrency])) as Record<
    DatabaseClient,
    number
  >;
  const largestPool = Math.max(...clients.map((c) => DB_POOL_SIZE[c]));
  return {
    mode: 'shared',
    need,
    totalNeed,
    max,
    worstCaseConnections: input.accountConcurrency * largestPool + OTHER_DB_CONNECTIONS,
  };
}

/** RDS PostgreSQL's default max_connections: LEAST(DBInstanceClassMemory / 9531392, 5000). */
export function maxConnections(instance: DatabaseInstanceType): number {
  return Math.min(Math.floor((DATABASE_INSTANCES[instance].memoryGiB * 1024 ** 3) / 9_531_392), 5000);
}

/**
 * Connections the Lambdas may hold at worst. The formula above uses the class's nominal memory, while RDS
 * computes it from the memory left after the OS, so the real limit is lower; the other half is also
 * headroom for superuser-reserved slots, an operator's psql and a deploy's migration.
 */
export function safeConnections(instance: DatabaseInstanceType): number {
  return Math.floor(maxConnections(instance) * CONNECTIONS_SAFE_SHARE);
}

/** The smallest offered instance class whose safe share holds `connections`, if any. */
function smallestInstanceFor(connections: number): DatabaseInstanceType | undefined {
  return [...DATABASE_INSTANCE_TYPES]
    .sort((a, b) => DATABASE_INSTANCES[a].usdPerHour - DATABASE_INSTANCES[b].usdPerHour)
    .find((t) => safeConnections(t) >= connections);
}

export interface StackCapacityInput {
  messagesPerSecond: number;
  accountConcurrency: number;
  databaseInstanceType: DatabaseInstanceType;
  rdsProxy: boolean;
}

/**
 * The checks a stage must pass before it is deployed, whatever its subscriber count: Lambda concurrency
 * and worst-case database connections. Each problem names the setting that fixes it.
 */
export function stackCapacityProblems(input: StackCapacityInput): string[] {
  const plan = concurrencyPlan(input);
  const problems: string[] = [];
  const quota = input.accountConcurrency;
  const toReserve = plan.totalNeed + LAMBDA_MIN_UNRESERVED;
  if (plan.mode === 'shared' && plan.need.sender > quota) {
    problems.push(
      `lambdaConcurrencyQuota: twilioMessagesPerSecond ${input.messagesPerSecond} needs ${plan.need.sender} concurrent senders but the account runs at most ${quota} Lambdas at once; request "Concurrent executions" ≥ ${toReserve} in Service Quotas and set lambdaConcurrencyQuota to it, or lower twilioMessagesPerSecond`,
    );
  }
  if (!input.rdsProxy) {
    const safe = safeConnections(input.databaseInstanceType);
    if (plan.worstCaseConnections > safe) {
      const bigger = smallestInstanceFor(plan.worstCaseConnections);
      const fixes = [
        plan.mode === 'shared'
          ? `raise lambdaConcurrencyQuota to ≥ ${toReserve} (after Service Quotas grants it) so each function gets a reserved cap`
          : 'lower twilioMessagesPerSecond',
        bigger ? `databaseInstanceType ${bigger} (safe ${safeConnections(bigger)})` : undefined,
        'rdsProxy: true (pools connections in front of the database)',
      ].filter(Boolean);
      problems.push(
        `databaseInstanceType: worst case ${plan.worstCaseConnections} Postgres connections (${describeWorstCase(plan, quota)}) exceeds the safe ${safe} (${CONNECTIONS_SAFE_SHARE * 100}% of max_connections ${maxConnections(input.databaseInstanceType)} on db.${input.databaseInstanceType}); fix: ${fixes.join(', or ')}`,
      );
    }
  }
  return problems;
}

function describeWorstCase(plan: ConcurrencyPlan, quota: number): string {
  if (plan.mode === 'shared')
    return `no reserved concurrency: ${quota} concurrent Lambdas × pool ${Math.max(...Object.values(DB_POOL_SIZE))} + ${OTHER_DB_CONNECTIONS} rotation`;
  const parts = (Object.keys(plan.need) as DatabaseClient[]).map(
    (c) => `${c} ${plan.need[c]}×${DB_POOL_SIZE[c]}`,
  );
  return `${parts.join(' + ')} + ${OTHER_DB_CONNECTIONS} rotation`;
}

// ── The day's report ───────────────────────────────────────────────────────────────────────────────────

export interface ZoneShare {
  /** Minutes local time is ahead of UTC on the day in question (New York in winter: -300). */
  utcOffsetMinutes: number;
  /** Share of subscribers in this zone; shares are normalized to sum to 1. */
  share: number;
  label?: string;
}

export interface CapacitySettings extends StackCapacityInput {
  messagesPerDay: number;
  /** Local send window, minutes after midnight (12:00 → 720). */
  sendWindow: { startMinute: number; endMinute: number };
  openaiTokensPerMinute: number;
  openaiRequestsPerMinute: number;
  /** The planner's pacing estimate (OPENAI_EXPECTED_TOKENS_PER_MESSAGE). */
  openaiExpectedTokensPerMessage: number;
  openaiInputPerMTokUsd: number;
  openaiOutputPerMTokUsd: number;
  smsPricePerSegmentUsd: number;
  dailyCostLimitUsd: number;
  schedulerCreatePerSecond: number;
  schedulerMaxSchedules: number;
  egress: Egress;
}

export interface CapacityLine {
  id: string;
  title: string;
  need: number;
  limit: number;
  unit: string;
  fits: boolean;
  /** How `need` and `limit` were computed. */
  detail: string;
  /** When it does not fit: the setting, quota or service tier that would. */
  change?: string;
}

export interface CostItem {
  item: string;
  usdPerMonth: number;
  arithmetic: string;
}

export interface CapacityReport {
  subscribers: number;
  zones: ZoneShare[];
  fits: boolean;
  lines: CapacityLine[];
  concurrency: ConcurrencyPlan;
  monthlyCost: { fixed: CostItem[]; usage: CostItem[]; totalUsd: number };
}

/** Sends per minute at the busiest UTC minute of the day, each zone's sends spread evenly over its window. */
export function peakSendsPerMinute(
  subscribers: number,
  zones: ZoneShare[],
  window: { startMinute: number; endMinute: number },
): number {
  const total = zones.reduce((s, z) => s + z.share, 0);
  const windowMinutes = window.endMinute - window.startMinute;
  let peak = 0;
  for (let utcMinute = 0; utcMinute < 1440; utcMinute++) {
    let perMinute = 0;
    for (const zone of zones) {
      const local = (((utcMinute + zone.utcOffsetMinutes) % 1440) + 1440) % 1440;
      if (local >= window.startMinute && local < window.endMinute)
        // share / total first: at most 1, where subscribers × a huge share would overflow to Infinity.
        perMinute += (subscribers * (zone.share / total)) / windowMinutes;
    }
    peak = Math.max(peak, perMinute);
  }
  return peak;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
/** A price as written on a pricing page: no exponent, no float noise (2e-7 → 0.0000002). */
const price = (n: number) => `$${n.toFixed(10).replace(/\.?0+$/, '')}`;
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** Everything a day of `subscribers` needs, line by line, with the monthly cost. */
export function capacityReport(
  settings: CapacitySettings,
  subscribers: number,
  zones: ZoneShare[] = [{ utcOffsetMinutes: 0, share: 1, label: 'one time zone' }],
): CapacityReport {
  const lines: CapacityLine[] = [];
  const windowMinutes = settings.sendWindow.endMinute - settings.sendWindow.startMinute;
  const peak = peakSendsPerMinute(subscribers, zones, settings.sendWindow);
  const plan = concurrencyPlan(settings);

  const neededMps = Math.ceil(peak / 60);
  lines.push({
    id: 'send-pace',
    title: 'Sends per window vs. Twilio pace',
    need: round(peak / 60, 3),
    limit: settings.messagesPerSecond,
    unit: 'messages/s at the busiest minute',
    fits: peak <= settings.messagesPerSecond * 60,
    detail: `${fmt(round(peak, 1))} sends/min at peak (${windowMinutes}-minute window) vs ${settings.messagesPerSecond} msg/s × 60; one window holds ${fmt(settings.messagesPerSecond * windowMinutes * 60)} sends per zone`,
    change: `twilioMessagesPerSecond ≥ ${neededMps}: a Messaging Service with more 10DLC numbers (throughput is set by your brand's trust score), toll-free, or a short code (100 msg/s)`,
  });
  lines.push({
    id: 'daily-quota',
    title: 'Daily SMS quota',
    need: subscribers,
    limit: settings.messagesPerDay,
    unit: 'messages/day',
    fits: subscribers <= settings.messagesPerDay,
    detail: `one message per subscriber per day vs twilioMessagesPerDay`,
    change: `twilioMessagesPerDay ≥ ${subscribers} (and check your carriers' daily caps for your 10DLC brand)`,
  });
  const tokensPerMinute = peak * settings.openaiExpectedTokensPerMessage;
  lines.push({
    id: 'openai-tokens',
    title: 'OpenAI tokens per minute',
    need: Math.ceil(tokensPerMinute),
    limit: settings.openaiTokensPerMinute,
    unit: 'tokens/min at peak',
    fits: tokensPerMinute <= settings.openaiTokensPerMinute,
    detail: `${fmt(round(peak, 1))} sends/min × ${settings.openaiExpectedTokensPerMessage} tokens (OPENAI_EXPECTED_TOKENS_PER_MESSAGE)`,
    change: `openaiTokensPerMinute ≥ ${Math.ceil(tokensPerMinute)} (your OpenAI usage tier's TPM for the model must allow it)`,
  });
  lines.push({
    id: 'openai-requests',
    title: 'OpenAI requests per minute',
    need: Math.ceil(peak),
    limit: settings.openaiRequestsPerMinute,
    unit: 'requests/min at peak',
    fits: peak <= settings.openaiRequestsPerMinute,
    detail: 'one request per message (regenerations are rare)',
    change: `openaiRequestsPerMinute ≥ ${Math.ceil(peak)} (your OpenAI usage tier's RPM must allow it)`,
  });
  const openaiPerMessage =
    (MEASURED_TOKENS_PER_MESSAGE.input * settings.openaiInputPerMTokUsd +
      MEASURED_TOKENS_PER_MESSAGE.output * settings.openaiOutputPerMTokUsd) /
    1e6;
  const dailyCost = subscribers * (settings.smsPricePerSegmentUsd + openaiPerMessage);
  lines.push({
    id: 'daily-cost',
    title: 'Daily cost cap',
    need: round(dailyCost),
    limit: settings.dailyCostLimitUsd,
    unit: 'USD/day',
    fits: dailyCost <= settings.dailyCostLimitUsd,
    detail: `${fmt(subscribers)} × (${price(settings.smsPricePerSegmentUsd)} per segment + ${price(round(openaiPerMessage, 7))} OpenAI)`,
    change: `dailyCostLimitUsd ≥ ${Math.ceil(dailyCost)} (the sender skips with cost_cap above it)`,
  });
  const scheduleSeconds = subscribers / settings.schedulerCreatePerSecond;
  lines.push({
    id: 'scheduler-rate',
    title: 'Scheduler API time for the day',
    need: Math.ceil(scheduleSeconds),
    limit: PLANNER_RUN_SECONDS,
    unit: 's of CreateSchedule calls',
    fits: scheduleSeconds <= PLANNER_RUN_SECONDS,
    detail: `${fmt(subscribers)} schedules at the CreateSchedule quota of ${settings.schedulerCreatePerSecond}/s vs one planner run (${PLANNER_RUN_SECONDS / 60} min)`,
    change: `raise "CreateSchedule request rate" to ≥ ${Math.ceil(subscribers / PLANNER_RUN_SECONDS)}/s in Service Quotas and set schedulerCreateSchedulePerSecond (otherwise the planner needs ${Math.ceil(scheduleSeconds / PLANNER_RUN_SECONDS)} runs)`,
  });
  const pending = Math.ceil(subscribers * PENDING_SCHEDULES_PER_SUBSCRIBER);
  lines.push({
    id: 'scheduler-schedules',
    title: 'Pending schedules',
    need: pending,
    limit: settings.schedulerMaxSchedules,
    unit: 'schedules',
    fits: pending <= settings.schedulerMaxSchedules,
    detail: `${fmt(subscribers)} × ${PENDING_SCHEDULES_PER_SUBSCRIBER} (a 26-hour horizon reaches two windows in some zones)`,
    change: `raise "Number of schedules" to ≥ ${pending} in Service Quotas and set schedulerMaxSchedules`,
  });
  const senderHave = plan.mode === 'reserved' ? plan.need.sender : settings.accountConcurrency;
  lines.push({
    id: 'sender-concurrency',
    title: 'Sender concurrency',
    need: plan.need.sender,
    limit: senderHave,
    unit: 'concurrent sends',
    fits: plan.need.sender <= senderHave,
    detail: `${settings.messagesPerSecond} msg/s × ${SEND_SECONDS_BUDGET} s per send; ${plan.mode === 'reserved' ? 'reserved' : 'shared account quota, nothing reserved'}`,
    change: `lambdaConcurrencyQuota ≥ ${plan.totalNeed + LAMBDA_MIN_UNRESERVED} (Service Quotas → Lambda → Concurrent executions)`,
  });
  lines.push({
    id: 'lambda-concurrency',
    title: 'Lambda concurrency quota',
    need: plan.mode === 'reserved' ? plan.totalNeed + LAMBDA_MIN_UNRESERVED : plan.need.sender,
    limit: settings.accountConcurrency,
    unit: 'concurrent executions',
    fits:
      plan.mode === 'reserved'
        ? plan.totalNeed + LAMBDA_MIN_UNRESERVED <= settings.accountConcurrency
        : plan.need.sender <= settings.accountConcurrency,
    detail:
      plan.mode === 'reserved'
        ? `${plan.totalNeed} reserved + ${LAMBDA_MIN_UNRESERVED} Lambda keeps unreserved`
        : `quota ${settings.accountConcurrency} leaves nothing to reserve (Lambda keeps ${LAMBDA_MIN_UNRESERVED} unreserved): all functions share it`,
    change: `request "Concurrent executions" ≥ ${plan.totalNeed + LAMBDA_MIN_UNRESERVED} in Service Quotas and set lambdaConcurrencyQuota`,
  });
  const safe = safeConnections(settings.databaseInstanceType);
  const bigger = smallestInstanceFor(plan.worstCaseConnections);
  lines.push({
    id: 'db-connections',
    title: 'Worst-case database connections',
    need: plan.worstCaseConnections,
    limit: safe,
    unit: 'connections',
    fits: settings.rdsProxy || plan.worstCaseConnections <= safe,
    detail: settings.rdsProxy
      ? `${plan.worstCaseConnections} client connections to RDS Proxy, which holds at most ${safe} to db.${settings.databaseInstanceType}`
      : `${describeWorstCase(plan, settings.accountConcurrency)} vs ${CONNECTIONS_SAFE_SHARE * 100}% of max_connections ${maxConnections(settings.databaseInstanceType)} (db.${settings.databaseInstanceType})`,
    change: `rdsProxy: true${bigger ? `, or databaseInstanceType ${bigger}` : ''}`,
  });

  const monthlyCost = estimateMonthlyCost(settings, subscribers, openaiPerMessage);
  for (const line of lines) if (line.fits) delete line.change;
  return { subscribers, zones, fits: lines.every((l) => l.fits), lines, concurrency: plan, monthlyCost };
}

/** The stack's monthly cost: fixed items plus the usage of `subscribers` messages a day for 30 days. */
function estimateMonthlyCost(
  settings: Pick<CapacitySettings, 'databaseInstanceType' | 'rdsProxy' | 'egress' | 'smsPricePerSegmentUsd'>,
  subscribers: number,
  openaiPerMessageUsd: number,
): CapacityReport['monthlyCost'] {
  const db = DATABASE_INSTANCES[settings.databaseInstanceType];
  const h = HOURS_PER_MONTH;
  const fixed: CostItem[] = [
    {
      item: `RDS db.${settings.databaseInstanceType} PostgreSQL, single-AZ`,
      usdPerMonth: db.usdPerHour * h,
      arithmetic: `${price(db.usdPerHour)}/h × ${h} h`,
    },
    {
      item: `RDS gp3 storage, ${PRICES.databaseStorageGb} GB`,
      usdPerMonth: PRICES.databaseStorageGb * PRICES.databaseStorageGbMonth,
      arithmetic: `${PRICES.databaseStorageGb} GB × ${price(PRICES.databaseStorageGbMonth)}/GB-month`,
    },
    ...egressCost(settings.egress),
    {
      item: `Secrets Manager, ${STACK_INVENTORY.secrets} secrets`,
      usdPerMonth: STACK_INVENTORY.secrets * PRICES.secretMonth,
      arithmetic: `${STACK_INVENTORY.secrets} × ${price(PRICES.secretMonth)}`,
    },
    {
      item: `CloudWatch: ${STACK_INVENTORY.alarms} alarms, ${STACK_INVENTORY.dashboards} dashboard`,
      usdPerMonth:
        STACK_INVENTORY.alarms * PRICES.alarmMonth + STACK_INVENTORY.dashboards * PRICES.dashboardMonth,
      arithmetic: `${STACK_INVENTORY.alarms} × ${price(PRICES.alarmMonth)} + ${price(PRICES.dashboardMonth)}; an account's first 10 alarms and 3 dashboards are free`,
    },
  ];
  if (settings.rdsProxy) {
    const vcpus = Math.max(db.vcpus, PRICES.rdsProxyMinVcpus);
    fixed.push({
      item: 'RDS Proxy',
      usdPerMonth: vcpus * PRICES.rdsProxyVcpuHour * h,
      arithmetic: `${vcpus} vCPU × ${price(PRICES.rdsProxyVcpuHour)}/vCPU-h × ${h} h`,
    });
  }
  const messages = subscribers * DAYS_PER_MONTH;
  // Per message: the sender (512 MB, up to SEND_SECONDS_BUDGET), its schedule, and its webhook requests.
  const lambdaPerMessage =
    0.5 * SEND_SECONDS_BUDGET * PRICES.lambdaArmGbSecond +
    PRICES.lambdaRequest +
    WEBHOOK_REQUESTS_PER_MESSAGE *
      (0.5 * WEBHOOK_SECONDS_BUDGET * PRICES.lambdaArmGbSecond + PRICES.lambdaRequest);
  const awsPerMessage =
    lambdaPerMessage + PRICES.schedulerInvocation + WEBHOOK_REQUESTS_PER_MESSAGE * PRICES.httpApiRequest;
  const usage: CostItem[] = [
    {
      item: 'Twilio SMS (1 segment each, before carrier fees)',
      usdPerMonth: messages * settings.smsPricePerSegmentUsd,
      arithmetic: `${fmt(messages)} messages × ${price(settings.smsPricePerSegmentUsd)}`,
    },
    {
      item: 'OpenAI',
      usdPerMonth: messages * openaiPerMessageUsd,
      arithmetic: `${fmt(messages)} × ${price(round(openaiPerMessageUsd, 7))}`,
    },
    {
      item: 'Lambda, Scheduler, HTTP API',
      usdPerMonth: messages * awsPerMessage,
      arithmetic: `${fmt(messages)} × ${price(round(awsPerMessage, 8))}, before free tiers`,
    },
  ];
  const all = [...fixed, ...usage].map((c) => ({ ...c, usdPerMonth: round(c.usdPerMonth) }));
  return {
    fixed: all.slice(0, fixed.length),
    usage: all.slice(fixed.length),
    totalUsd: round(all.reduce((s, c) => s + c.usdPerMonth, 0)),
  };
}

/** The monthly cost of the Lambdas' way to the internet (before data processing). */
export function egressCost(egress: Egress): CostItem[] {
  const h = HOURS_PER_MONTH;
  const ipv4 = {
    item: 'Public IPv4 address',
    usdPerMonth: PRICES.publicIpv4Hour * h,
    arithmetic: `${price(PRICES.publicIpv4Hour)}/h × ${h} h`,
  };
  // The egress probe: a 128 MB Lambda every EGRESS_PROBE_MINUTES, about a second each.
  const runs = (h * 60) / EGRESS_PROBE_MINUTES;
  const probe = {
    item: `Egress probe Lambda, ${fmt(runs)} runs`,
    usdPerMonth: runs * (0.125 * PRICES.lambdaArmGbSecond + PRICES.lambdaRequest),
    arithmetic: `${fmt(runs)} × (0.125 GB-s × ${price(PRICES.lambdaArmGbSecond)} + ${price(PRICES.lambdaRequest)})`,
  };
  if (egress === 'nat-gateway')
    return [
      {
        item: 'NAT gateway (plus $0.045/GB processed)',
        usdPerMonth: PRICES.natGatewayHour * h,
        arithmetic: `${price(PRICES.natGatewayHour)}/h × ${h} h`,
      },
      ipv4,
      probe,
    ];
  return [
    {
      item: 'NAT instance t4g.nano',
      usdPerMonth: PRICES.natInstanceT4gNanoHour * h,
      arithmetic: `${price(PRICES.natInstanceT4gNanoHour)}/h × ${h} h`,
    },
    {
      item: `NAT instance root volume, ${PRICES.natInstanceVolumeGb} GB gp3 (encrypted)`,
      usdPerMonth: PRICES.natInstanceVolumeGb * PRICES.natInstanceVolumeGbMonth,
      arithmetic: `${PRICES.natInstanceVolumeGb} GB × ${price(PRICES.natInstanceVolumeGbMonth)}/GB-month`,
    },
    ipv4,
    probe,
  ];
}

// ── The deployed stage's inputs, as the stack hands them to the webhooks Lambda ───────────────────────

const count = z.number().int().min(0);
const usd = z.number().min(0);

/** CapacitySettings as JSON (CAPACITY_SETTINGS, the API's capacity report): checked where it is read. */
export const CapacitySettingsSchema = z
  .object({
    messagesPerSecond: count,
    messagesPerDay: count,
    accountConcurrency: count,
    databaseInstanceType: z.enum(DATABASE_INSTANCE_TYPES),
    rdsProxy: z.boolean(),
    sendWindow: z.object({ startMinute: count.max(1440), endMinute: count.max(1440) }),
    openaiTokensPerMinute: count,
    openaiRequestsPerMinute: count,
    openaiExpectedTokensPerMessage: count,
    openaiInputPerMTokUsd: usd,
    openaiOutputPerMTokUsd: usd,
    smsPricePerSegmentUsd: usd,
    dailyCostLimitUsd: usd,
    schedulerCreatePerSecond: count,
    schedulerMaxSchedules: count,
    egress: z.enum(['nat-instance', 'nat-gateway']),
  })
  .meta({ id: 'CapacitySettings', description: "The stage's capacity inputs (config/<stage>.json)" });

// Held equal to the interface above by the compiler, so neither can gain a field the other lacks.
const settingsMatch: Exactly<z.output<typeof CapacitySettingsSchema>, CapacitySettings> = true;
void settingsMatch;

/** What the stack deployed: the stage's name and capacity inputs (the webhooks Lambda's CAPACITY_SETTINGS). */
export const DeployedCapacitySchema = z.object({
  stage: z.string().min(1),
  settings: CapacitySettingsSchema,
});
export type DeployedCapacity = z.output<typeof DeployedCapacitySchema>;

/** A time-zone mix that cannot be read; the message says which part and why. */
export class InvalidZoneMix extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidZoneMix';
  }
}

/**
 * "America/New_York=60,America/Los_Angeles=40" → each zone's UTC offset at `at` and its share. Shares are
 * relative weights: each a finite number above 0 (Infinity or 1e309 is refused, not read as "everyone"),
 * and their sum finite too, so the report's arithmetic never meets Infinity or NaN.
 */
export function parseZoneMix(value: string, at: Date): ZoneShare[] {
  const zones = value.split(',').map((part) => {
    const [zone = '', share = '1'] = part.trim().split('=');
    const weight = Number(share);
    if (!isValidTimeZone(zone)) throw new InvalidZoneMix(`not an IANA time zone: ${JSON.stringify(zone)}`);
    if (!(weight > 0 && Number.isFinite(weight)))
      throw new InvalidZoneMix(`not a positive share for ${zone}: ${JSON.stringify(share)}`);
    return { utcOffsetMinutes: IANAZone.create(zone).offset(at.getTime()), share: weight, label: zone };
  });
  if (!Number.isFinite(zones.reduce((sum, z) => sum + z.share, 0)))
    throw new InvalidZoneMix(
      'the shares add up to more than a number can hold: use smaller weights, such as 60,40',
    );
  return zones;
}
