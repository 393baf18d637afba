// What the webhooks Lambda runs on: the HTTP app API Gateway hands requests to, and the replay of webhooks
// the SQS spool kept while Postgres was unreachable, both over one database pool and one set of adapters.
import { handle } from 'hono/aws-lambda';
import type pg from 'pg';
import { loadLambdaConfig } from '../adapters/secrets.js';
import type { LambdaConfig } from '../config.js';
import { WEBHOOK_DB_BUDGET } from '../domain/webhook-budget.js';
import { type AppDeps, createApp, webhookDeps } from '../http/app.js';
import { countKeptWebhook } from '../metrics.js';
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
  sms: twilioSms(config, config.credentials.twilio),
  scheduler: eventBridgeScheduler(config),
  limiter: await sharedLimiter(config, pool, metrics),
  spool: sqsSpool(config),
  starter: lambdaSendStarter(config),
});

export async function buildWebhooksLambda(
  wire: WireAdapters,
  env: Record<string, string | undefined>,
  metrics: MetricsSink | undefined,
) {
  const config = await loadLambdaConfig('webhooks', env);
  // Well inside the Lambda's timeout, so a request stuck on the database is kept before the Lambda is stopped.
  const { db, pool } = await lambdaDatabase(config, 'webhooks', {
    statementTimeoutMs: WEBHOOK_DB_BUDGET.statementMs,
    lockTimeoutMs: WEBHOOK_DB_BUDGET.lockMs,
    connectTimeoutMs: WEBHOOK_DB_BUDGET.connectMs,
  });
  const adapters = await wire(config, pool, metrics ?? noMetrics);
  // Spooled webhooks are applied with the same settings as live ones; one that fails again is
  // redelivered by SQS, not kept twice.
  const services = webhookDeps({ config, db, scheduler: adapters.scheduler, sms: adapters.sms });
  return {
    http: handle(createApp({ config, db, metrics, capacity: config.CAPACITY_SETTINGS, ...adapters })),
    replay: async (event: SqsEvent) => {
      const messages = event.Records.map((r) => ({ id: r.messageId, body: r.body }));
      const { failed, outcomes } = await applySpooledBatch(services, messages);
      // Counted as the live requests would have been: an opt-out or a failed message kept while the database
      // was down still reaches the alarms.
      if (metrics) for (const outcome of outcomes) countKeptWebhook(metrics, outcome);
      return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
    },
  };
}
