// What the webhooks Lambda runs on: the HTTP app API Gateway hands requests to, and the replay of webhooks
// the SQS spool kept while Postgres was unreachable, both over one database pool and one set of adapters.
import type { Context } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import type pg from 'pg';
import { loadLambdaConfig } from '../adapters/secrets.js';
import type { LambdaConfig } from '../config.js';
import {
  LAMBDA_TIMEOUT_MS,
  marginMs,
  spooledWebhookWorstCaseMs,
  TWILIO_CALLS,
  WEBHOOK_DB_BUDGET,
} from '../domain/call-budgets.js';
import { type AppDeps, createApp, webhookDeps } from '../http/app.js';
import { type MetricsSink, noMetrics } from '../services/ports.js';
import { applySpooledBatch } from '../services/webhook-spool.js';
import { lambdaDatabase } from './database.js';
import { sharedLimiter } from './limiter.js';
import { eventBridgeScheduler } from './scheduler.js';
import { lambdaSendStarter } from './send-starter.js';
import { sqsSpool } from './spool.js';
import { twilioSms } from './twilio.js';

type WebhookAdapters = Pick<AppDeps, 'sms' | 'scheduler' | 'limiter' | 'spool' | 'starter'>;

/** The outside-world adapters the app talks to, built for this Lambda from its config. */
export type WireAdapters = (
  config: LambdaConfig<'webhooks'>,
  pool: pg.Pool,
  metrics: MetricsSink,
) => WebhookAdapters | Promise<WebhookAdapters>;

type ApiGatewayHandler = ReturnType<typeof handle>;
export type ApiGatewayEvent = Parameters<ApiGatewayHandler>[0];
export type ApiGatewayContext = Parameters<ApiGatewayHandler>[1];

/** SQS delivering spooled webhooks back (the event source mapping), as opposed to API Gateway. */
export interface SqsEvent {
  Records: { messageId: string; body: string; eventSource: 'aws:sqs' }[];
}
export const isSqsEvent = (event: unknown): event is SqsEvent =>
  (event as SqsEvent | null)?.Records?.[0]?.eventSource === 'aws:sqs';

/**
 * The deployed adapters: Twilio for the double opt-in text, EventBridge Scheduler to cancel on opt-out, SQS
 * to keep webhooks while Postgres is unreachable, the sender Lambda for an operator's test send.
 */
export const deployedWebhookAdapters: WireAdapters = async (config, pool, metrics) => ({
  sms: twilioSms(config, config.credentials.twilio, TWILIO_CALLS.webhooksSend),
  scheduler: eventBridgeScheduler(config),
  limiter: await sharedLimiter(config, pool, metrics),
  spool: sqsSpool(config),
  starter: lambdaSendStarter(config),
});

type RemainingTime = Partial<Pick<Context, 'getRemainingTimeInMillis'>>;

/** Retries of a spooled webhook's statement: brief, as SQS delivers it again (2 minutes later) if it fails. */
const SPOOLED_RETRY = { budgetMs: WEBHOOK_DB_BUDGET.spooledRetryMs };

/**
 * Whether a spooled webhook may still be started in this invocation: only when one at its worst (database,
 * schedules, reply; src/domain/call-budgets.ts) still ends before the Lambda's timeout, so none is stopped
 * halfway (its reply claimed and never sent). Without a context (a test, a manual run) there is time.
 */
function hasTimeForOneMore(context?: RemainingTime): boolean {
  const remaining = context?.getRemainingTimeInMillis?.();
  return (
    remaining === undefined || remaining >= spooledWebhookWorstCaseMs() + marginMs(LAMBDA_TIMEOUT_MS.webhooks)
  );
}

export async function buildWebhooksLambda(
  wire: WireAdapters,
  env: Record<string, string | undefined>,
  metrics: MetricsSink | undefined,
) {
  const config = await loadLambdaConfig('webhooks', env);
  // Timeouts from WEBHOOK_DB_BUDGET: a request stuck on the database is kept before Twilio stops waiting.
  const { db, pool } = await lambdaDatabase(config, 'webhooks');
  const adapters = await wire(config, pool, metrics ?? noMetrics);
  // Spooled webhooks are applied with the same settings as live ones, retried more briefly: one that fails
  // again is redelivered by SQS, not kept twice.
  const services = webhookDeps({
    config,
    db,
    scheduler: adapters.scheduler,
    sms: adapters.sms,
    retry: SPOOLED_RETRY,
  });
  return {
    http: handle(createApp({ config, db, metrics, capacity: config.CAPACITY_SETTINGS, ...adapters })),
    replay: async (event: SqsEvent, context?: RemainingTime) => {
      const messages = event.Records.map((r) => ({ id: r.messageId, body: r.body }));
      const { failed } = await applySpooledBatch({ ...services, metrics }, messages, {
        mayStart: () => hasTimeForOneMore(context),
      });
      return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
    },
  };
}
