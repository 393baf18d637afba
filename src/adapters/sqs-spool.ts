// The webhook spool in AWS: an SQS queue (lib/constructs/webhook-spool.ts). The webhooks Lambda sends a
// webhook here when Postgres stays unreachable past its retries; SQS then delivers it back to the same
// Lambda (an event source mapping), which applies it once the database answers (src/handlers/webhooks.ts).
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { KeptWebhook, WebhookSpool } from '../services/ports.js';
import { isOptOut } from '../services/webhook-spool.js';

export function createSqsSpool(options: { client: SQSClient; queueUrl: string }): WebhookSpool {
  return {
    async keep(webhook: KeptWebhook) {
      await options.client.send(
        new SendMessageCommand({
          QueueUrl: options.queueUrl,
          MessageBody: JSON.stringify(webhook),
          // For people reading the queue; the consumer orders each batch itself.
          MessageAttributes: {
            type: { DataType: 'String', StringValue: webhook.type },
            optOut: { DataType: 'String', StringValue: String(isOptOut(webhook)) },
          },
        }),
      );
    },
  };
}
