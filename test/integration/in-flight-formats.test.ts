// What a deploy finds in flight (DEPLOYMENT.md, Upgrades and Rollback): schedules an earlier planner created
// and webhooks an earlier release kept in the spool, frozen as they were written (test/fixtures/in-flight.ts).
// Today's code takes them as they are, and writes the same, so the release it replaces (or a rollback to it)
// reads what today's leaves.
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { createEventBridgeScheduler } from '../../src/adapters/eventbridge-scheduler.js';
import { createSqsSpool } from '../../src/adapters/sqs-spool.js';
import { createSenderHandler } from '../../src/handlers/sender.js';
import { webhookDeps } from '../../src/http/app.js';
import type { SendDeps } from '../../src/services/send-daily-message.js';
import { applySpooledBatch, parseKeptWebhook } from '../../src/services/webhook-spool.js';
import { KEPT_STATUS, KEPT_STOP, SCHEDULE_INPUT } from '../fixtures/in-flight.js';
import { useTestDb } from '../support/db.js';
import { CountingLimiter, fixedClock } from '../support/sender-doubles.js';
import { RecordingScheduler, RecordingSms, testConfig } from '../support/webhook-doubles.js';

const { db } = useTestDb();
const NOW = '2026-11-25T18:00:00Z';
const { deliveryId } = JSON.parse(SCHEDULE_INPUT) as { deliveryId: string };

async function subscriber(phone: string) {
  return db()
    .insertInto('subscribers')
    .values({ phone, time_zone: 'America/New_York', status: 'active', confirmed_at: '2026-11-01T12:00:00Z' })
    .returning('id')
    .executeTakeFirstOrThrow();
}

function senderDeps(sms: SendDeps['sms']): SendDeps {
  const clock = fixedClock(NOW);
  return {
    db: db(),
    clock,
    limiter: new CountingLimiter({}, clock),
    scheduler: new RecordingScheduler(),
    writer: createCuratedWriter(),
    sms,
    settings: {
      publicBaseUrl: 'https://sms.example.com',
      messagesPerDay: 10,
      dailyCostLimitUsd: 1,
      prices: { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 },
      writeTimeoutMs: 1000,
    },
  };
}

describe('a schedule an earlier planner created', () => {
  it('is sent once from its Input as Scheduler delivers it; a second delivery is a duplicate', async () => {
    const s = await subscriber('+12125550123');
    await db()
      .insertInto('deliveries')
      .values({
        id: deliveryId,
        subscriber_id: s.id,
        local_date: '2026-11-25',
        time_zone: 'America/New_York',
        window_start: '2026-11-25T17:00:00Z',
        window_end: '2026-11-25T22:00:00Z',
        planned_at: NOW,
      })
      .execute();
    const send = vi.fn(async () => ({ sid: `SM${'c'.repeat(32)}`, status: 'queued', segments: 1 }));
    const handler = createSenderHandler(async () => senderDeps({ send }));

    const first = await handler(JSON.parse(SCHEDULE_INPUT));
    const again = await handler(JSON.parse(SCHEDULE_INPUT));

    expect(first).toMatchObject({ outcome: 'sent', deliveryId });
    expect(again).toEqual({ outcome: 'duplicate', deliveryId, state: 'sent' });
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('has the Input today’s planner writes, so the sender it replaces reads today’s', async () => {
    const sdk = mockClient(SchedulerClient);
    const scheduler = createEventBridgeScheduler({
      client: new SchedulerClient({ region: 'us-east-1' }),
      groupName: 'daily-positivity',
      target: { arn: 'arn:sender', roleArn: 'arn:role', deadLetterArn: 'arn:dlq' },
    });

    await scheduler.schedule({
      deliveryId,
      at: new Date('2026-11-25T18:00:00Z'),
      windowEnd: new Date('2026-11-25T22:00:00Z'),
    });

    expect(sdk.commandCalls(CreateScheduleCommand)[0]?.args[0].input.Target?.Input).toBe(SCHEDULE_INPUT);
    sdk.restore();
  });
});

describe('webhooks an earlier release kept in the spool', () => {
  it('are applied by today’s consumer: the STOP opts out, the status is recorded', async () => {
    const stopper = await subscriber('+12125550123');
    await subscriber('+12125550124');
    const deps = webhookDeps({
      config: testConfig(),
      db: db(),
      scheduler: new RecordingScheduler(),
      sms: new RecordingSms(),
      clock: fixedClock('2026-11-25T18:10:00Z'),
    });

    const { failed } = await applySpooledBatch(deps, [
      { id: 'stop', body: KEPT_STOP },
      { id: 'status', body: KEPT_STATUS },
    ]);

    expect(failed).toEqual([]);
    const s = await db()
      .selectFrom('subscribers')
      .selectAll()
      .where('id', '=', stopper.id)
      .executeTakeFirst();
    expect(s).toMatchObject({ status: 'opted_out', opted_out_at: new Date('2026-11-25T18:05:00Z') });
    const status = await db().selectFrom('message_statuses').select(['message_sid', 'status']).execute();
    expect(status).toEqual([{ message_sid: JSON.parse(KEPT_STATUS).messageSid, status: 'delivered' }]);
  });

  it('are what today’s spool writes, so the consumer it replaces reads today’s', async () => {
    const sqs = mockClient(SQSClient);
    const spool = createSqsSpool({
      client: new SQSClient({ region: 'us-east-1' }),
      queueUrl: 'https://sqs/q',
    });

    for (const body of [KEPT_STOP, KEPT_STATUS]) {
      const webhook = parseKeptWebhook(body);
      if (!webhook) throw new Error(`today's spool cannot read ${body}`);
      await spool.keep(webhook);
    }

    const written = sqs
      .commandCalls(SendMessageCommand)
      .map((c) => JSON.parse(c.args[0].input.MessageBody ?? ''));
    expect(written).toEqual([JSON.parse(KEPT_STOP), JSON.parse(KEPT_STATUS)]);
    sqs.restore();
  });
});
