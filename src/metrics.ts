// Business metrics: Powertools Metrics (CloudWatch Embedded Metric Format on stdout) in AWS, an in-memory
// sink in one-machine mode and tests. Both implement the MetricsSink port, so services never know which.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger } from './logger.js';
import type { InboundResult } from './services/inbound.js';
import type { PlanSummary } from './services/plan-day.js';
import type { MetricsSink } from './services/ports.js';
import type { SendOutcome } from './services/send-daily-message.js';
import type { StatusCallbackResult } from './services/status-callbacks.js';
import type { KeptWebhookOutcome } from './services/webhook-spool.js';

/** The one CloudWatch namespace for every metric this service publishes. */
export const METRICS_NAMESPACE = 'DailyPositivity';

/**
 * The `service` dimension Powertools adds to every metric, per Lambda. Alarms and the dashboard
 * (lib/constructs/monitoring.ts) select metrics by it, so both sides read it from here.
 */
export const MetricService = {
  planner: 'planner',
  sender: 'sender',
  webhooks: 'webhooks',
  cleanup: 'cleanup',
  reconcile: 'reconcile',
} as const;
export type MetricService = (typeof MetricService)[keyof typeof MetricService];

/**
 * The `route` dimension of WebhookSignatureRefused: the routes Twilio calls, as patterns (never a request's
 * path). The alarm and the dashboard read both values from here.
 */
export const TwilioWebhookRoute = { inbound: '/twilio/inbound', status: '/twilio/status' } as const;
export type TwilioWebhookRoute = (typeof TwilioWebhookRoute)[keyof typeof TwilioWebhookRoute];

export const MetricName = {
  DeliveriesPlanned: 'DeliveriesPlanned',
  /**
   * Deliveries a planner run could not finish (unscheduled at its deadline, or schedule calls that failed)
   * and did not hand to a continuation: they wait for the next daily run. 0 on every run that left none.
   */
  PlannerWorkLeft: 'PlannerWorkLeft',
  /** Dimension `reason` (quota, cost_cap, opted_out, …). */
  DeliveriesSkipped: 'DeliveriesSkipped',
  MessagesSent: 'MessagesSent',
  MessagesDelivered: 'MessagesDelivered',
  MessagesUndelivered: 'MessagesUndelivered',
  MessagesFailed: 'MessagesFailed',
  OptOuts: 'OptOuts',
  OptIns: 'OptIns',
  OpenAIRequests: 'OpenAIRequests',
  OpenAITokens: 'OpenAITokens',
  FallbackMessages: 'FallbackMessages',
  /** Dimension `reason` (guard:<rule>, moderation_flagged, …): generated drafts discarded by content checks. */
  DraftsReplaced: 'DraftsReplaced',
  /** Dimension `budget`. Emitted by the rate limiter. */
  RateLimitHits: 'RateLimitHits',
  /** Dimensions `budget`, `store`: the shared store failed and a fallback store answered. */
  RateLimitStoreFallback: 'RateLimitStoreFallback',
  /** Estimated spend in US dollars (OpenAI tokens + SMS segments); fractional. */
  EstimatedCostUSD: 'EstimatedCostUSD',
  /** Published by the daily cleanup. */
  DatabaseSizeBytes: 'DatabaseSizeBytes',
  /** Deliveries whose status the daily reconciliation corrected from Twilio's Messages API. */
  DeliveriesReconciled: 'DeliveriesReconciled',
  /**
   * Dimension `route` (`/twilio/inbound`, `/twilio/status`): a webhook from our own Twilio account (signed,
   * our AccountSid) that the signature check refused after re-reading the auth token. Lost: Twilio does not
   * send it again. Unsigned requests and other accounts' (scans) are not counted (src/http/twilio.ts).
   */
  WebhookSignatureRefused: 'WebhookSignatureRefused',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/** CloudWatch has no currency unit: cost is published unit-less; sizes in bytes; the rest are counts. */
type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
const UNITS: Partial<Record<string, Unit>> = {
  [MetricName.EstimatedCostUSD]: MetricUnit.NoUnit,
  [MetricName.DatabaseSizeBytes]: MetricUnit.Bytes,
};

/**
 * Where Powertools Metrics reports problems: our logger (JSON, privacy rules, LOG_LEVEL). Its warning that
 * an invocation published nothing is normal here (a health check, a duplicate callback): DEBUG.
 */
const metricsLog = {
  debug: (message: string) => logger.debug(message),
  info: (message: string) => logger.info(message),
  warn: (message: string) =>
    message.startsWith('No application metrics to publish') ? logger.debug(message) : logger.warn(message),
  error: (message: string) => logger.error(message),
};

/**
 * MetricsSink over Powertools Metrics. Metrics without dimensions are buffered and flushed together;
 * a metric with dimensions (e.g. DeliveriesSkipped by reason) goes out at once as its own EMF line,
 * because one EMF document shares a single dimension set.
 */
export class PowertoolsMetricsSink implements MetricsSink {
  readonly metrics: Metrics;

  constructor(options: { serviceName?: string; namespace?: string; metrics?: Metrics } = {}) {
    this.metrics =
      options.metrics ??
      new Metrics({
        namespace: options.namespace ?? METRICS_NAMESPACE,
        serviceName: options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'daily-positivity',
        logger: metricsLog,
      });
  }

  count(name: string, value = 1, dimensions?: Record<string, string>): void {
    if (!Number.isFinite(value)) return;
    const unit = UNITS[name] ?? MetricUnit.Count;
    if (dimensions && Object.keys(dimensions).length > 0) {
      const single = this.metrics.singleMetric();
      single.addDimensions(dimensions);
      single.addMetric(name, unit, value);
      return;
    }
    this.metrics.addMetric(name, unit, value);
  }

  /** Writes buffered metrics (one EMF line). In a Lambda, the `logMetrics` middleware does this. */
  flush(): void {
    if (this.metrics.hasStoredMetrics()) this.metrics.publishStoredMetrics();
  }
}

export interface RecordedMetric {
  name: string;
  value: number;
  dimensions: Record<string, string>;
}

/** MetricsSink that keeps every data point in memory: one-machine mode (CLI report) and tests. */
export class InMemoryMetricsSink implements MetricsSink {
  readonly recorded: RecordedMetric[] = [];

  count(name: string, value = 1, dimensions: Record<string, string> = {}): void {
    if (!Number.isFinite(value)) return;
    this.recorded.push({ name, value, dimensions: { ...dimensions } });
  }

  /** Sum of a metric's values, optionally only those whose dimensions include `where`. */
  total(name: string, where: Record<string, string> = {}): number {
    return this.recorded
      .filter((m) => m.name === name && Object.entries(where).every(([k, v]) => m.dimensions[k] === v))
      .reduce((sum, m) => sum + m.value, 0);
  }

  /** Totals per metric name and dimension set, e.g. { "DeliveriesSkipped{reason=quota}": 3 }. */
  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.recorded) {
      const dims = Object.entries(m.dimensions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const key = dims ? `${m.name}{${dims}}` : m.name;
      out[key] = (out[key] ?? 0) + m.value;
    }
    return out;
  }

  reset(): void {
    this.recorded.length = 0;
  }
}

// ── What each Lambda publishes, from what its service returned (handlers call these, then flush) ─────

/** Planner run: deliveries planned, and those skipped at planning time by reason. */
export function countPlanSummary(sink: MetricsSink, summary: Pick<PlanSummary, 'planned' | 'skipped'>): void {
  sink.count(MetricName.DeliveriesPlanned, summary.planned);
  for (const [reason, count] of Object.entries(summary.skipped)) {
    if (count > 0) sink.count(MetricName.DeliveriesSkipped, count, { reason });
  }
}

/** One sender invocation. A carrier-side opt-out (Twilio 21610) is an opt-out, not a failed message. */
export function countSendOutcome(sink: MetricsSink, outcome: SendOutcome): void {
  switch (outcome.outcome) {
    case 'sent':
      sink.count(MetricName.MessagesSent);
      if (outcome.fallback) sink.count(MetricName.FallbackMessages);
      break;
    case 'skipped':
      sink.count(MetricName.DeliveriesSkipped, 1, { reason: outcome.reason });
      break;
    case 'failed':
      sink.count(outcome.reason === 'opted_out_at_carrier' ? MetricName.OptOuts : MetricName.MessagesFailed);
      break;
    default:
      return; // duplicate / not_found: nothing happened
  }
  const usage = 'usage' in outcome ? outcome.usage : undefined;
  if (!usage) return;
  if (usage.openaiRequests > 0) sink.count(MetricName.OpenAIRequests, usage.openaiRequests);
  if (usage.tokens > 0) sink.count(MetricName.OpenAITokens, usage.tokens);
  if (usage.costUsd > 0) sink.count(MetricName.EstimatedCostUSD, usage.costUsd);
  for (const reason of usage.replaced ?? []) sink.count(MetricName.DraftsReplaced, 1, { reason });
}

/** One inbound SMS: a repeated MessageSid counts nothing, nor does an opt-in superseded by a later opt-out. */
export function countInboundResult(
  sink: MetricsSink,
  result: Pick<InboundResult, 'kind' | 'duplicate' | 'superseded'>,
): void {
  if (result.duplicate || result.superseded) return;
  if (result.kind === 'opt_out') sink.count(MetricName.OptOuts);
  else if (result.kind === 'opt_in') sink.count(MetricName.OptIns);
}

const FINAL_STATUS_METRIC: Partial<Record<string, MetricName>> = {
  delivered: MetricName.MessagesDelivered,
  undelivered: MetricName.MessagesUndelivered,
  failed: MetricName.MessagesFailed,
};

/**
 * One status callback: a final status counts once, when it moved one of our deliveries forward (not for a
 * repeated callback, nor for messages that are not daily deliveries, such as the opt-in confirmation).
 */
export function countStatusCallback(sink: MetricsSink, status: string, result: StatusCallbackResult): void {
  if (result.duplicate) return;
  const metric = FINAL_STATUS_METRIC[status];
  if (metric && result.advanced) sink.count(metric);
  if (result.optedOut) sink.count(MetricName.OptOuts);
}

/** A webhook kept while the database was unreachable, once applied: counted as the live request would be. */
export function countKeptWebhook(sink: MetricsSink, outcome: KeptWebhookOutcome): void {
  if (outcome.type === 'inbound') countInboundResult(sink, outcome.result);
  else countStatusCallback(sink, outcome.status, outcome.result);
}
