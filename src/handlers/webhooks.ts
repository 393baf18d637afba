// Lambda entry point behind API Gateway (HTTP API): builds the app once per cold start and hands each
// event to it. All routing, parsing and logic live in src/http and src/services. The same Lambda consumes
// the webhook spool (SQS): webhooks it kept while Postgres was unreachable come back as SQS events.
import { handle } from 'hono/aws-lambda';
import type pg from 'pg';
import { loadLambdaConfig } from '../adapters/secrets.js';
import type { LambdaConfig } from '../config.js';
import { type AppDeps, createApp, webhookDeps } from '../http/app.js';
import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { type MetricsSink, noMetrics } from '../services/ports.js';
import { applySpooledBatch } from '../services/webhook-spool.js';
import { lambdaDatabase } from '../wiring/database.js';
import { sharedLimiter } from '../wiring/limiter.js';
import { eventBridgeScheduler } from '../wiring/scheduler.js';
import { lambdaSendStarter } from '../wiring/send-starter.js';
import { sqsSpool } from '../wiring/spool.js';
import { twilioSms } from '../wiring/twilio.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';

/** The outside-world adapters the app talks to, built for this Lambda from its config. */
export type WireAdapters = (
  config: LambdaConfig<'webhooks'>,
  pool: pg.Pool,
  metrics: MetricsSink,
) => WebhookAdapters | Promise<WebhookAdapters>;
type WebhookAdapters = Pick<AppDeps, 'sms' | 'scheduler' | 'limiter' | 'spool' | 'starter'>;

type ApiGatewayHandler = ReturnType<typeof handle>;
type ApiGatewayEvent = Parameters<ApiGatewayHandler>[0];

/** SQS delivering spooled webhooks back (the event source mapping), as opposed to API Gateway. */
interface SqsEvent {
  Records: { messageId: string; body: string; eventSource: 'aws:sqs' }[];
}
const isSqsEvent = (event: unknown): event is SqsEvent =>
  (event as SqsEvent | null)?.Records?.[0]?.eventSource === 'aws:sqs';

export function createWebhooksHandler(
  wire: WireAdapters,
  env: Record<string, string | undefined> = process.env,
  metrics?: MetricsSink,
) {
  const built = onColdStart(async () => {
    const config = await loadLambdaConfig('webhooks', env);
    const { db, pool } = await lambdaDatabase(config, 'webhooks', { statementTimeoutMs: 15_000 });
    const adapters = await wire(config, pool, metrics ?? noMetrics);
    // Spooled webhooks are applied with the same settings as live ones; one that fails again is
    // redelivered by SQS, not kept twice.
    const services = webhookDeps({ config, db, scheduler: adapters.scheduler, sms: adapters.sms });
    return {
      http: handle(createApp({ config, db, metrics, capacity: config.CAPACITY_SETTINGS, ...adapters })),
      replay: async (event: SqsEvent) => {
        const messages = event.Records.map((r) => ({ id: r.messageId, body: r.body }));
        const failed = await applySpooledBatch(services, messages);
        return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
      },
    };
  });
  return lambdaHandler(async (event, context) => {
    const { http, replay } = await built();
    if (isSqsEvent(event)) return replay(event);
    return http(event as ApiGatewayEvent, context as Parameters<ApiGatewayHandler>[1]);
  }, metrics);
}

/**
 * The deployed handler: Twilio for the double opt-in text, EventBridge Scheduler to cancel on opt-out, SQS
 * to keep webhooks while Postgres is unreachable, the sender Lambda for an operator's test send.
 */
export const handler = createWebhooksHandler(
  async (config, pool, metrics) => ({
    sms: twilioSms(config, config.credentials.twilio),
    scheduler: eventBridgeScheduler(config),
    limiter: await sharedLimiter(config, pool, metrics),
    spool: sqsSpool(config),
    starter: lambdaSendStarter(config),
  }),
  process.env,
  new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
);
