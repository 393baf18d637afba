// Lambda entry point for one scheduled delivery: { deliveryId } from EventBridge Scheduler.
import OpenAI from 'openai';
import * as z from 'zod';
import { createCuratedWriter } from '../adapters/curated-writer.js';
import { createOpenAiWriter } from '../adapters/openai-writer.js';
import { loadRuntimeConfig } from '../adapters/secrets.js';
import { type Config, ConfigError } from '../config.js';
import { createDb, type Db } from '../db/connection.js';
import { markStaleClaimsUnknown } from '../db/repositories/deliveries/sending.js';
import { appendCorrelationKeys, applyLogConfig, logger } from '../logger.js';
import {
  countSendOutcome,
  type FlushableMetricsSink,
  InMemoryMetricsSink,
  MetricService,
  PowertoolsMetricsSink,
} from '../metrics.js';
import { type RateLimiter, systemClock } from '../services/ports.js';
import {
  type SendDeps,
  type SendOutcome,
  sendDailyMessage,
  senderSettings,
} from '../services/send-daily-message.js';
import { onColdStart } from './cold-start.js';
import { databaseFor } from './wiring/database.js';
import { sharedLimiter } from './wiring/limiter.js';
import { twilioSms } from './wiring/twilio.js';

export const SendEvent = z.object({ deliveryId: z.uuid() });

export type SenderResult = SendOutcome | { outcome: 'rejected'; reason: string };

/** A Lambda runs at most 15 minutes, so an older `sending` claim is not in flight any more. */
const STALE_CLAIM_MS = 15 * 60_000;

/** Everything the sender needs, from validated config and the shared limiter. */
export function buildSenderDeps(config: Config, limiter: RateLimiter, db?: Db): SendDeps {
  const { DATABASE_URL, PUBLIC_BASE_URL } = config;
  const { OPENAI_API_KEY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN } = config.secrets;
  if (!DATABASE_URL || !PUBLIC_BASE_URL || !OPENAI_API_KEY || !TWILIO_ACCOUNT_SID || !TWILIO_AUTH_TOKEN) {
    throw new ConfigError([
      'sender: DATABASE_URL, PUBLIC_BASE_URL and the OpenAI/Twilio secrets are required',
    ]);
  }
  db ??= createDb({
    connectionString: DATABASE_URL,
    max: 2,
    ssl: config.DATABASE_SSL,
    applicationName: 'daily-positivity-sender',
  });
  const writer = createOpenAiWriter({
    // Retries are the writer's (bounded by the deadline, honouring Retry-After), not the SDK's.
    client: new OpenAI({ apiKey: OPENAI_API_KEY, maxRetries: 0, timeout: 10_000 }),
    model: config.OPENAI_MODEL,
    limiter,
    fallback: createCuratedWriter(),
    moderation: config.OPENAI_MODERATION,
  });
  const sms = twilioSms(config);
  return {
    db,
    sms,
    writer,
    limiter,
    clock: systemClock,
    settings: senderSettings({ ...config, PUBLIC_BASE_URL }),
  };
}

/**
 * Parses the event (a malformed one is answered, not thrown, so Scheduler does not retry it forever),
 * sends, and publishes the outcome as metrics (flushed once per invocation, also when it throws).
 */
export function createSenderHandler(
  getDeps: () => Promise<SendDeps>,
  metrics: FlushableMetricsSink = new InMemoryMetricsSink(),
) {
  return async (event: unknown): Promise<SenderResult> => {
    try {
      return await sendOne(getDeps, metrics, event);
    } finally {
      metrics.flush();
    }
  };
}

async function sendOne(
  getDeps: () => Promise<SendDeps>,
  metrics: FlushableMetricsSink,
  event: unknown,
): Promise<SenderResult> {
  logger.resetKeys();
  const parsed = SendEvent.safeParse(event);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ');
    logger.error('rejected a malformed sender event', { reason });
    return { outcome: 'rejected', reason };
  }
  appendCorrelationKeys({ deliveryId: parsed.data.deliveryId });
  const deps = await getDeps();
  const outcome = await sendDailyMessage(deps, parsed.data.deliveryId);
  countSendOutcome(metrics, outcome);
  try {
    const stale = await markStaleClaimsUnknown(
      deps.db,
      new Date(deps.clock.now().getTime() - STALE_CLAIM_MS),
    );
    if (stale > 0) logger.warn('claims left in sending marked unknown for reconciliation', { count: stale });
  } catch (err) {
    logger.warn('could not sweep stale claims', {
      error: err instanceof Error ? err.message : String(err),
    });
  }
  return outcome;
}

/** One sink per container: Powertools buffers until the handler flushes. */
const lambdaMetrics = new PowertoolsMetricsSink({ serviceName: MetricService.sender });

// Secrets Manager briefly unreachable or a secret not yet filled in: the next invocation tries again.
const lambdaDeps = onColdStart(async (): Promise<SendDeps> => {
  const config = await loadRuntimeConfig(process.env, {
    require: ['DATABASE_URL', 'PUBLIC_BASE_URL', 'OPENAI_API_KEY', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'],
  });
  applyLogConfig(config);
  const { db, pool } = databaseFor(config, 'sender');
  return buildSenderDeps(config, await sharedLimiter(config, pool, lambdaMetrics), db);
});

export const handler = createSenderHandler(lambdaDeps, lambdaMetrics);
