// EMF lines the Lambdas print, captured from stdout: a send, a fallback and a skip through the sender
// handler, and an inbound STOP through the webhooks Lambda handler (real Postgres, Powertools Metrics).
import { describe, expect, it, vi } from 'vitest';
import { addUsage } from '../../src/db/repositories/usage.js';
import { createSenderHandler } from '../../src/handlers/sender.js';
import { createWebhooksHandler } from '../../src/handlers/webhooks.js';
import { METRICS_NAMESPACE, MetricService, PowertoolsMetricsSink } from '../../src/metrics.js';
import type { MessageWriter, WrittenMessage } from '../../src/services/ports.js';
import type { SendDeps } from '../../src/services/send-daily-message.js';
import { captureStdout } from '../support/capture-stdout.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import { CountingLimiter, fixedClock } from '../support/sender-doubles.js';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  inboundParams,
  newSid,
  PUBLIC_BASE_URL,
  RecordingScheduler,
  RecordingSms,
  seedSubscriber,
  signedForm,
} from '../support/webhook-doubles.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

const t = useTestDb();
const { db } = t;

interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

const stdout = captureStdout();

/** Every EMF document printed (log lines are skipped), flattened to {name: value} plus dimension sets. */
function emf(): Emf[] {
  return stdout
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf);
}
const metricNames = (doc: Emf) => doc._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name));

// 25 Nov 2026, New York window 17:00–22:00 UTC; now 18:00 UTC.
const NOW = '2026-11-25T18:00:00Z';
const PRICES = { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 };

async function plannedDelivery(options: { paused?: boolean } = {}): Promise<string> {
  const s = await db()
    .insertInto('subscribers')
    .values({
      phone: '+14155550123',
      time_zone: 'America/New_York',
      status: 'active',
      paused: options.paused ?? false,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const d = await db()
    .insertInto('deliveries')
    .values({
      subscriber_id: s.id,
      local_date: '2026-11-25',
      time_zone: 'America/New_York',
      window_start: '2026-11-25T17:00:00Z',
      window_end: '2026-11-25T22:00:00Z',
      planned_at: NOW,
      state: 'planned',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return d.id;
}

/**
 * The writer is a double here: what is under test is how the handler turns the sender's outcome into
 * metrics. (OpenAI over HTTP is covered in send-daily-message.test.ts.)
 */
function senderDeps(written: WrittenMessage): SendDeps {
  const clock = fixedClock(NOW);
  const writer: MessageWriter = { write: async () => written };
  return {
    db: db(),
    clock,
    limiter: new CountingLimiter({}, clock),
    scheduler: new RecordingScheduler(),
    writer,
    sms: { send: async () => ({ sid: `SM${'0'.repeat(32)}`, status: 'queued', segments: 1 }) },
    settings: {
      publicBaseUrl: PUBLIC_BASE_URL,
      messagesPerDay: 100,
      dailyCostLimitUsd: 1,
      prices: PRICES,
      writeTimeoutMs: 1000,
    },
  };
}

const BODY = 'Ana, notice the late-autumn light on your walk home today. You have earned a slow evening.';

describe('sender handler EMF', () => {
  it('a send: MessagesSent, OpenAI requests and tokens, estimated cost, all in one document', async () => {
    const deliveryId = await plannedDelivery();
    const handler = createSenderHandler(
      async () =>
        senderDeps({
          body: BODY,
          model: 'gpt-4o-mini',
          tokensIn: 120,
          tokensOut: 30,
          requests: 1,
          fallback: false,
        }),
      new PowertoolsMetricsSink({ serviceName: MetricService.sender }),
    );

    expect(await handler({ deliveryId })).toMatchObject({ outcome: 'sent' });

    const docs = emf();
    expect(docs).toHaveLength(1);
    const [doc] = docs as [Emf];
    expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service']],
    });
    expect(metricNames(doc).sort()).toEqual([
      'EstimatedCostUSD',
      'MessagesSent',
      'OpenAIRequests',
      'OpenAITokens',
    ]);
    expect(doc).toMatchObject({ service: 'sender', MessagesSent: 1, OpenAIRequests: 1, OpenAITokens: 150 });
    // 120 × 0.15/M + 30 × 0.6/M + one segment × 0.0083
    expect(doc.EstimatedCostUSD).toBeCloseTo(0.000018 + 0.000018 + 0.0083, 9);
  });

  it('a fallback: FallbackMessages alongside MessagesSent; failed OpenAI attempts still counted', async () => {
    const deliveryId = await plannedDelivery();
    const handler = createSenderHandler(
      async () =>
        senderDeps({ body: BODY, model: null, tokensIn: 0, tokensOut: 0, requests: 2, fallback: true }),
      new PowertoolsMetricsSink({ serviceName: MetricService.sender }),
    );

    expect(await handler({ deliveryId })).toMatchObject({ outcome: 'sent', fallback: true });

    const [doc, ...rest] = emf();
    expect(rest).toEqual([]);
    expect(metricNames(doc as Emf).sort()).toEqual([
      'EstimatedCostUSD',
      'FallbackMessages',
      'MessagesSent',
      'OpenAIRequests',
    ]);
    expect(doc).toMatchObject({ FallbackMessages: 1, MessagesSent: 1, OpenAIRequests: 2 });
    expect(doc?.EstimatedCostUSD).toBeCloseTo(0.0083, 9);
  });

  it.each([
    ['paused', { paused: true }, undefined],
    ['cost_cap', {}, 1],
  ])(
    'a skip (%s): DeliveriesSkipped with its reason as a dimension, and nothing sent',
    async (reason, sub, cost) => {
      const deliveryId = await plannedDelivery(sub);
      if (cost) await addUsage(db(), '2026-11-25', { costUsd: cost });
      const send = vi.fn();
      const handler = createSenderHandler(
        async () => ({
          ...senderDeps({ body: BODY, model: 'm', tokensIn: 1, tokensOut: 1, requests: 1, fallback: false }),
          sms: { send },
        }),
        new PowertoolsMetricsSink({ serviceName: MetricService.sender }),
      );

      expect(await handler({ deliveryId })).toMatchObject({ outcome: 'skipped', reason });

      expect(send).not.toHaveBeenCalled();
      const docs = emf();
      expect(docs).toHaveLength(1);
      expect(docs[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'reason']]);
      expect(docs[0]).toMatchObject({ service: 'sender', reason, DeliveriesSkipped: 1 });
      expect(metricNames(docs[0] as Emf)).toEqual(['DeliveriesSkipped']);
    },
  );

  it('prints no EMF for a malformed event', async () => {
    const handler = createSenderHandler(
      async () => {
        throw new Error('must not be called');
      },
      new PowertoolsMetricsSink({ serviceName: MetricService.sender }),
    );
    expect(await handler({ deliveryId: 'nope' })).toMatchObject({ outcome: 'rejected' });
    expect(emf()).toEqual([]);
  });
});

describe('webhooks handler EMF', () => {
  /** The webhooks Lambda's environment; DATABASE_URL is the worker's, known only inside a test. */
  const env = () => ({
    NODE_ENV: 'test',
    DATABASE_URL: t.url(),
    PUBLIC_BASE_URL,
    ...WEBHOOKS_ENV,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    API_TOKEN: 'test-api-token-0123456789abcdefghij',
    LOG_LEVEL: 'INFO',
  });

  it('webhooks kept while the database was down and applied from the spool count like live ones', async () => {
    // Prepare: a sent delivery whose "undelivered" callback, and another subscriber's STOP, arrived while
    // Postgres was unreachable; SQS now delivers them back to the same Lambda.
    const messageSid = newSid();
    await seedSubscriber(db(), { phone: '+12125550123' }, { state: 'sent', messageSid });
    await seedSubscriber(db(), { phone: '+12125550199' });
    const handler = createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      env(),
      new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
    );
    const kept = [
      {
        type: 'status',
        messageSid,
        status: 'undelivered',
        errorCode: 30003,
        recipientOptedOut: false,
        to: '+12125550123',
        receivedAt: '2026-11-25T18:05:00.000Z',
      },
      {
        type: 'inbound',
        messageSid: newSid(),
        from: '+12125550199',
        to: '+14155550100',
        body: 'STOP',
        optOutType: null,
        receivedAt: '2026-11-25T18:06:00.000Z',
      },
    ];
    const batch = {
      Records: kept.map((w, i) => ({ messageId: `m${i}`, body: JSON.stringify(w), eventSource: 'aws:sqs' })),
    };
    const replay = handler as unknown as (event: unknown, context: unknown) => Promise<unknown>;

    // Act
    expect(await replay(batch, lambdaContext)).toEqual({ batchItemFailures: [] });

    // Assess: the same counts, with the same service dimension, as had they arrived live.
    const docs = emf();
    expect(docs).toHaveLength(1);
    expect(docs[0]?._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service']],
    });
    expect(metricNames(docs[0] as Emf).sort()).toEqual(['MessagesUndelivered', 'OptOuts']);
    expect(docs[0]).toMatchObject({ service: 'webhooks', MessagesUndelivered: 1, OptOuts: 1 });
    // SQS delivers the batch again (at-least-once): nothing new happened, nothing is counted.
    stdout.length = 0;
    expect(await replay(batch, lambdaContext)).toEqual({ batchItemFailures: [] });
    expect(emf()).toEqual([]);
  });

  it('an inbound STOP: one OptOuts count, flushed once by the invocation', async () => {
    const handler = createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      env(),
      new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
    );
    const params = inboundParams('+12125550123', 'STOP');
    const form = signedForm('/twilio/inbound', params);
    const event = () => httpApiEvent('POST', '/twilio/inbound', { ...form, base64: true });

    const res = await handler(event(), lambdaContext);

    expect(res).toMatchObject({ statusCode: 200 });
    const docs = emf();
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ service: 'webhooks', OptOuts: 1 });
    expect(metricNames(docs[0] as Emf)).toEqual(['OptOuts']);
    const subscriber = await db().selectFrom('subscribers').select('status').executeTakeFirst();
    expect(subscriber?.status).toBe('opted_out');
    // The same STOP again (Twilio retry): nothing new is counted.
    stdout.length = 0;
    await handler(event(), lambdaContext);
    expect(emf()).toEqual([]);
  });
});
