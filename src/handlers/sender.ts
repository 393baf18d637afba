// Lambda entry point for one scheduled delivery: { deliveryId } from EventBridge Scheduler.
import * as z from 'zod';
import { loadLambdaConfig } from '../adapters/secrets.js';
import { appendCorrelationKeys, logger } from '../logger.js';
import { countSendOutcome, MetricService, PowertoolsMetricsSink } from '../metrics.js';
import type { MetricsSink } from '../services/ports.js';
import { type SendDeps, type SendOutcome, sendDailyMessage } from '../services/send-daily-message.js';
import { lambdaDatabase } from '../wiring/database.js';
import { sharedLimiter } from '../wiring/limiter.js';
import { openAiWriter } from '../wiring/openai.js';
import { eventBridgeScheduler } from '../wiring/scheduler.js';
import { buildSenderDeps } from '../wiring/sender.js';
import { twilioSms } from '../wiring/twilio.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';

export const SendEvent = z.object({ deliveryId: z.uuid() });

export type SenderResult = SendOutcome | { outcome: 'rejected'; reason: string };

/**
 * A malformed event is answered, not thrown, so Scheduler does not retry it forever; a good one is sent
 * and its outcome counted.
 */
export function createSenderHandler(deps: () => Promise<SendDeps>, metrics?: MetricsSink) {
  return lambdaHandler(async (event): Promise<SenderResult> => {
    const parsed = SendEvent.safeParse(event);
    if (!parsed.success) {
      const reason = parsed.error.issues
        .map((i) => `${i.path.join('.') || 'event'}: ${i.message}`)
        .join('; ');
      logger.error('rejected a malformed sender event', { reason });
      return { outcome: 'rejected', reason };
    }
    appendCorrelationKeys({ deliveryId: parsed.data.deliveryId });
    const outcome = await sendDailyMessage(await deps(), parsed.data.deliveryId);
    if (metrics) countSendOutcome(metrics, outcome);
    return outcome;
  }, metrics);
}

const metrics = new PowertoolsMetricsSink({ serviceName: MetricService.sender });

export const handler = createSenderHandler(
  onColdStart(async () => {
    const config = await loadLambdaConfig('sender');
    const { db, pool } = await lambdaDatabase(config, 'sender');
    const limiter = await sharedLimiter(config, pool, metrics);
    return buildSenderDeps(config, {
      db,
      limiter,
      sms: twilioSms(config, config.credentials.twilio),
      // A send refused because the recipient opted out cancels their later schedules.
      scheduler: eventBridgeScheduler(config),
      writer: openAiWriter(config, config.credentials.openai, { limiter }),
    });
  }),
  metrics,
);
