// The webhooks Lambda's spool: the SQS queue named by WEBHOOK_SPOOL_QUEUE_URL (lib/constructs/webhook-spool.ts).
import { SQSClient } from '@aws-sdk/client-sqs';
import { createSqsSpool } from '../adapters/sqs-spool.js';
import type { Settings } from '../config.js';
import type { WebhookSpool } from '../services/ports.js';

/** Without a queue configured, webhooks the database cannot take are answered 503 and not kept. */
export function sqsSpool(config: Pick<Settings, 'WEBHOOK_SPOOL_QUEUE_URL'>): WebhookSpool | undefined {
  return config.WEBHOOK_SPOOL_QUEUE_URL
    ? createSqsSpool({ client: new SQSClient({}), queueUrl: config.WEBHOOK_SPOOL_QUEUE_URL })
    : undefined;
}
