// Where signed Twilio webhooks wait while the database is unreachable (issue #15: inbound is never lost).
// The webhooks Lambda sends a webhook here after its in-request retries fail, answers 503, and this queue
// delivers it back to the same Lambda, which applies it once Postgres answers (opt-outs first in each
// batch). A batch item that fails is delivered again after the visibility timeout; one that keeps failing
// lands in the dead-letter queue for the operator.
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { WEBHOOK_SPOOL_CONCURRENCY } from '../../src/domain/capacity.js';

/** Redeliveries before a kept webhook goes to the DLQ: 60 × 2 min visibility ≈ 2 h of database outage. */
const SPOOL_MAX_RECEIVES = 60;

export interface WebhookSpoolProps {
  /** The webhooks Lambda: it sends to the queue and consumes it. */
  webhooks: lambda.Function;
}

export class WebhookSpool extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: WebhookSpoolProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Longer than the Lambda's 15 s timeout, and the pace of retries while the database is down.
      visibilityTimeout: Duration.minutes(2),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: SPOOL_MAX_RECEIVES },
    });

    this.queue.grantSendMessages(props.webhooks);
    props.webhooks.addEnvironment('WEBHOOK_SPOOL_QUEUE_URL', this.queue.queueUrl);
    props.webhooks.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        // Only the items that failed are delivered again (src/handlers/webhooks.ts answers batchItemFailures).
        reportBatchItemFailures: true,
        // A database coming back should not meet the whole backlog at once; the capacity plan reserves
        // this many webhooks containers (and their connections) for the consumer.
        maxConcurrency: WEBHOOK_SPOOL_CONCURRENCY,
      }),
    );
  }
}
