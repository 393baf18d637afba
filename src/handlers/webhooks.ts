// Lambda entry point behind API Gateway (HTTP API): builds the app once per cold start and hands each
// event to it. All routing, parsing and logic live in src/http and src/services.
import { handle } from 'hono/aws-lambda';
import type pg from 'pg';
import { loadLambdaConfig } from '../adapters/secrets.js';
import type { LambdaConfig } from '../config.js';
import { type AppDeps, createApp } from '../http/app.js';

import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import { type MetricsSink, noMetrics } from '../services/ports.js';
import { lambdaDatabase } from '../wiring/database.js';
import { sharedLimiter } from '../wiring/limiter.js';
import { eventBridgeScheduler } from '../wiring/scheduler.js';
import { twilioSms } from '../wiring/twilio.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';

/** The outside-world adapters the app talks to, built for this Lambda from its config. */
export type WireAdapters = (
  config: LambdaConfig<'webhooks'>,
  pool: pg.Pool,
  metrics: MetricsSink,
) => Pick<AppDeps, 'sms' | 'scheduler' | 'limiter'> | Promise<Pick<AppDeps, 'sms' | 'scheduler' | 'limiter'>>;

type ApiGatewayHandler = ReturnType<typeof handle>;
type ApiGatewayEvent = Parameters<ApiGatewayHandler>[0];

export function createWebhooksHandler(
  wire: WireAdapters,
  env: Record<string, string | undefined> = process.env,
  metrics?: MetricsSink,
) {
  const app = onColdStart(async (): Promise<ApiGatewayHandler> => {
    const config = await loadLambdaConfig('webhooks', env);
    const { db, pool } = await lambdaDatabase(config, 'webhooks', { statementTimeoutMs: 15_000 });
    return handle(createApp({ config, db, metrics, ...(await wire(config, pool, metrics ?? noMetrics)) }));
  });
  return lambdaHandler(
    async (event, context) =>
      (await app())(event as ApiGatewayEvent, context as Parameters<ApiGatewayHandler>[1]),
    metrics,
  );
}

/** The deployed handler: Twilio for the double opt-in text, EventBridge Scheduler to cancel on opt-out. */
export const handler = createWebhooksHandler(
  async (config, pool, metrics) => ({
    sms: twilioSms(config, config.credentials.twilio),
    scheduler: eventBridgeScheduler(config),
    limiter: await sharedLimiter(config, pool, metrics),
  }),
  process.env,
  new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
);
