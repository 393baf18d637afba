// Lambda entry point behind API Gateway (HTTP API): builds the app once per cold start and hands each
// event to it. All routing, parsing and logic live in src/http and src/services.
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import type pg from 'pg';
import { loadRuntimeConfig } from '../adapters/secrets.js';
import type { Config } from '../config.js';
import type { Db } from '../db/connection.js';
import { createApp } from '../http/app.js';
import { applyLogConfig, logger } from '../logger.js';
import {
  type FlushableMetricsSink,
  InMemoryMetricsSink,
  MetricService,
  PowertoolsMetricsSink,
} from '../metrics.js';
import type { DeliveryScheduler, MetricsSink, RateLimiter, SmsSender } from '../services/ports.js';
import { onColdStart } from './cold-start.js';
import { databaseFor } from './wiring/database.js';
import { sharedLimiter } from './wiring/limiter.js';
import { eventBridgeScheduler } from './wiring/scheduler.js';
import { twilioSms } from './wiring/twilio.js';

export interface WebhookAdapters {
  sms: SmsSender;
  scheduler: DeliveryScheduler;
  limiter?: RateLimiter;
}

/** Builds the outside-world adapters for this Lambda from its config. */
export type WireAdapters = (
  config: Config,
  db: Db,
  pool: pg.Pool,
  metrics: MetricsSink,
) => WebhookAdapters | Promise<WebhookAdapters>;

type LambdaHandler = ReturnType<typeof handle>;

/**
 * A Lambda handler whose dependencies are built on the first invocation and kept for the container's
 * life. A failed build is retried on the next invocation rather than cached. Metrics the request
 * produced are flushed once per invocation.
 */
export function createWebhooksHandler(
  wire: WireAdapters,
  env: Record<string, string | undefined> = process.env,
  metrics: FlushableMetricsSink = new InMemoryMetricsSink(),
): LambdaHandler {
  const ready = onColdStart(async (): Promise<LambdaHandler> => {
    const config = await loadRuntimeConfig(env, {
      require: ['DATABASE_URL', 'PUBLIC_BASE_URL', 'TWILIO_AUTH_TOKEN', 'API_TOKEN'],
    });
    applyLogConfig(config);
    const { db, pool } = databaseFor(config, 'webhooks');
    const app: Hono = createApp({ config, db, metrics, ...(await wire(config, db, pool, metrics)) });
    return handle(app);
  });
  return (async (event: Parameters<LambdaHandler>[0], context: Parameters<LambdaHandler>[1]) => {
    logger.resetKeys();
    try {
      return await (await ready())(event, context);
    } finally {
      metrics.flush();
    }
  }) as LambdaHandler;
}

/** The deployed handler: Twilio for the double opt-in text, EventBridge Scheduler to cancel on opt-out. */
export const handler = createWebhooksHandler(
  async (config, _db, pool, metrics) => ({
    sms: twilioSms(config),
    scheduler: eventBridgeScheduler(config),
    limiter: await sharedLimiter(config, pool, metrics),
  }),
  process.env,
  new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
);
