// How the Lambdas build their outside-world adapters in AWS, in one place: the database pool, the shared
// rate limiter on it, Twilio, and EventBridge Scheduler. Each handler calls these once per cold start.
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type pg from 'pg';
import { createEventBridgeScheduler } from '../adapters/eventbridge-scheduler.js';
import { createRateLimiter } from '../adapters/rate-limiter.js';
import { createTwilioSms, type TwilioSender } from '../adapters/twilio-sms.js';
import { type Config, ConfigError } from '../config.js';
import { createPool, type Db, dbOnPool } from '../db/connection.js';
import type { DeliveryScheduler, MetricsSink, RateLimiter, SmsSender } from '../services/ports.js';

export function databaseFor(config: Config, component: string, max = 2): { db: Db; pool: pg.Pool } {
  if (!config.DATABASE_URL) throw new ConfigError(['DATABASE_URL: required here (missing)']);
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    ssl: config.DATABASE_SSL,
    max,
    statementTimeoutMs: component === 'planner' ? 120_000 : 15_000,
    applicationName: `daily-positivity-${component}`,
  });
  return { db: dbOnPool(pool), pool };
}

/** The limiter every instance shares: Postgres (the database we already have) or Redis when configured. */
export function sharedLimiter(config: Config, pool: pg.Pool, metrics?: MetricsSink): Promise<RateLimiter> {
  return createRateLimiter({ config, pool, metrics });
}

export function twilioSenderFrom(config: Config): TwilioSender {
  if (config.TWILIO_MESSAGING_SERVICE_SID)
    return { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID };
  if (config.TWILIO_FROM_NUMBER) return { from: config.TWILIO_FROM_NUMBER };
  throw new ConfigError([
    'TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID: one is required (both missing)',
  ]);
}

export function twilioSms(config: Config): SmsSender {
  const { TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN } = config.secrets;
  if (!TWILIO_ACCOUNT_SID || !TWILIO_AUTH_TOKEN) {
    throw new ConfigError(['TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: required in the app secret (missing)']);
  }
  return createTwilioSms({
    accountSid: TWILIO_ACCOUNT_SID,
    authToken: TWILIO_AUTH_TOKEN,
    sender: twilioSenderFrom(config),
  });
}

/**
 * EventBridge Scheduler in the configured group. With the sender's ARN, role and DLQ it can create
 * schedules (planner); without them it only cancels (webhooks, on opt-out).
 */
export function eventBridgeScheduler(config: Config): DeliveryScheduler {
  if (!config.SCHEDULER_GROUP_NAME) throw new ConfigError(['SCHEDULER_GROUP_NAME: required here (missing)']);
  const { SENDER_FUNCTION_ARN, SCHEDULER_ROLE_ARN, SCHEDULER_DLQ_ARN } = config;
  return createEventBridgeScheduler({
    client: new SchedulerClient({}),
    groupName: config.SCHEDULER_GROUP_NAME,
    target:
      SENDER_FUNCTION_ARN && SCHEDULER_ROLE_ARN && SCHEDULER_DLQ_ARN
        ? { arn: SENDER_FUNCTION_ARN, roleArn: SCHEDULER_ROLE_ARN, deadLetterArn: SCHEDULER_DLQ_ARN }
        : undefined,
  });
}
