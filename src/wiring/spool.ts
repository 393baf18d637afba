// The webhooks Lambda's spool: the SQS queue named by WEBHOOK_SPOOL_QUEUE_URL (lib/constructs/webhook-spool.ts).
import { SQSClient } from '@aws-sdk/client-sqs';
import { boundedAwsClient } from '../adapters/aws-clients.js';
import { createSqsSpool } from '../adapters/sqs-spool.js';
import type { Settings } from '../config.js';
import { AWS_CALLS } from '../domain/call-budgets.js';
import type { WebhookSpool } from '../services/ports.js';

/**
 * Without a queue configured, webhooks the database cannot take are answered 503 and not kept. A send that
 * cannot finish in the time the webhook budget leaves it fails, so the webhook is still answered 503.
 */
export function sqsSpool(config: Pick<Settings, 'WEBHOOK_SPOOL_QUEUE_URL'>): WebhookSpool | undefined {
  return config.WEBHOOK_SPOOL_QUEUE_URL
    ? createSqsSpool({
        client: boundedAwsClient(SQSClient, AWS_CALLS.spoolKeep),
        queueUrl: config.WEBHOOK_SPOOL_QUEUE_URL,
      })
    : undefined;
}
