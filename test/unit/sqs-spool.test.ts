// The SQS webhook spool sends each kept webhook as one message whose body the replay reads back.
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSqsSpool } from '../../src/adapters/sqs-spool.js';
import type { KeptWebhook } from '../../src/services/ports.js';
import { parseKeptWebhook } from '../../src/services/webhook-spool.js';

const sqs = mockClient(SQSClient);
beforeEach(() => sqs.reset());

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/daily-positivity-webhook-spool';

describe('createSqsSpool', () => {
  it('sends the webhook as JSON to the queue, marked as an opt-out when it is one', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const stop: KeptWebhook = {
      type: 'inbound',
      messageSid: `SM${'a'.repeat(32)}`,
      from: '+12125550123',
      to: '+14155550100',
      body: 'Stop',
      optOutType: null,
      receivedAt: '2026-12-01T10:00:00.000Z',
    };
    await createSqsSpool({ client: new SQSClient({ region: 'us-east-1' }), queueUrl: QUEUE }).keep(stop);

    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({
      QueueUrl: QUEUE,
      MessageAttributes: {
        type: { DataType: 'String', StringValue: 'inbound' },
        optOut: { DataType: 'String', StringValue: 'true' },
      },
    });
    expect(parseKeptWebhook(input?.MessageBody ?? '')).toEqual(stop);
  });

  it('throws when SQS refuses, so the caller answers 503 instead of pretending it kept it', async () => {
    sqs.on(SendMessageCommand).rejects(new Error('AccessDenied'));
    const spool = createSqsSpool({ client: new SQSClient({ region: 'us-east-1' }), queueUrl: QUEUE });
    await expect(
      spool.keep({
        type: 'status',
        messageSid: `SM${'b'.repeat(32)}`,
        status: 'delivered',
        errorCode: null,
        recipientOptedOut: false,
        to: null,
        receivedAt: '2026-12-01T10:00:00.000Z',
      }),
    ).rejects.toThrow(/AccessDenied/);
  });
});
