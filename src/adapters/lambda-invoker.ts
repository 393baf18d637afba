// The planner starting a new run of itself: an asynchronous Lambda Invoke (InvocationType Event). Lambda
// queues the event and answers 202 at once; with the planner's reserved concurrency of 1 the new run waits
// in Lambda's queue (throttled invocations are retried for up to six hours) until this one has returned.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { Continuation, PlannerInvoker } from '../services/planner-continuation.js';

export class InvokeNotAccepted extends Error {
  constructor(readonly statusCode: number | undefined) {
    super(`Lambda did not queue the invocation (status ${statusCode})`);
    this.name = 'InvokeNotAccepted';
  }
}

/** `functionArn`: the planner's own ARN (the invocation context's invokedFunctionArn). */
export function createLambdaInvoker(client: LambdaClient, functionArn: string): PlannerInvoker {
  return {
    async continueWith(continuation: Continuation): Promise<void> {
      const out = await client.send(
        new InvokeCommand({
          FunctionName: functionArn,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify({ continuation })),
        }),
      );
      if (out.StatusCode !== 202) throw new InvokeNotAccepted(out.StatusCode);
    },
  };
}
