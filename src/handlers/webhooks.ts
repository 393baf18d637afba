// Lambda entry point behind API Gateway (HTTP API): builds the app once per cold start and hands each
// event to it. All routing, parsing and logic live in src/http and src/services.
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { loadRuntimeConfig } from '../adapters/secrets.js';
import type { Config } from '../config.js';
import { createDb, type Db } from '../db/connection.js';
import { createApp } from '../http/app.js';
import type { DeliveryScheduler, RateLimiter, SmsSender } from '../services/ports.js';

export interface WebhookAdapters {
  sms: SmsSender;
  scheduler: DeliveryScheduler;
  limiter?: RateLimiter;
}

/** Builds the outside-world adapters for this Lambda from its config. */
export type WireAdapters = (config: Config, db: Db) => WebhookAdapters | Promise<WebhookAdapters>;

type LambdaHandler = ReturnType<typeof handle>;

/**
 * A Lambda handler whose dependencies are built on the first invocation and kept for the container's
 * life. A failed build is retried on the next invocation rather than cached.
 */
export function createWebhooksHandler(
  wire: WireAdapters,
  env: Record<string, string | undefined> = process.env,
): LambdaHandler {
  let ready: Promise<LambdaHandler> | undefined;
  const build = async (): Promise<LambdaHandler> => {
    const config = await loadRuntimeConfig(env, {
      require: ['DATABASE_URL', 'PUBLIC_BASE_URL', 'TWILIO_AUTH_TOKEN', 'API_TOKEN'],
    });
    const db = createDb({
      connectionString: config.DATABASE_URL as string,
      ssl: config.DATABASE_SSL,
      max: 2,
      statementTimeoutMs: 10_000,
      applicationName: 'webhooks',
    });
    const app: Hono = createApp({ config, db, ...(await wire(config, db)) });
    return handle(app);
  };
  return (async (event: Parameters<LambdaHandler>[0], context: Parameters<LambdaHandler>[1]) => {
    ready ??= build().catch((error) => {
      ready = undefined;
      throw error;
    });
    return (await ready)(event, context);
  }) as LambdaHandler;
}

/**
 * The deployed handler. The Twilio SmsSender (sender issue) and the EventBridge Scheduler
 * DeliveryScheduler (planner issue) are other modules' adapters; until they are merged this wiring
 * refuses to start rather than run without them.
 */
export const handler = createWebhooksHandler(() => {
  throw new Error(
    'webhooks Lambda: the Twilio SmsSender and EventBridge DeliveryScheduler adapters are not wired yet (src/handlers/webhooks.ts)',
  );
});
