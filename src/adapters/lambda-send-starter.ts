// An operator's test send in AWS: the sender Lambda invoked asynchronously with the event its schedules
// send ({ deliveryId }). Lambda queues it and answers 202 at once; function errors are retried by Lambda's
// async queue and end in the scheduler's dead-letter queue (lib/constructs/delivery-scheduling.ts), exactly
// as a scheduled send's would. The webhooks Lambda never needs the OpenAI key for it.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { SendStarter } from '../services/ports.js';

export interface LambdaSendStarterOptions {
  client: Pick<LambdaClient, 'send'>;
  /** The sender Lambda (SENDER_FUNCTION_ARN). */
  functionArn: string;
}

export function createLambdaSendStarter(options: LambdaSendStarterOptions): SendStarter {
  return {
    async start({ deliveryId }) {
      const result = await options.client.send(
        new InvokeCommand({
          FunctionName: options.functionArn,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify({ deliveryId })),
        }),
      );
      // 202 is Lambda's "queued" for an Event invocation; anything else means it was not.
      if (result.StatusCode !== 202)
        throw new Error(`the sender Lambda did not queue the send (status ${result.StatusCode})`);
    },
  };
}
