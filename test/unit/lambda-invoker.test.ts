// The planner's asynchronous self-invocation against the Lambda API's contract: InvocationType Event,
// answered 202 when Lambda has queued the event; anything else is not a queued continuation.
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLambdaInvoker, InvokeNotAccepted } from '../../src/adapters/lambda-invoker.js';

const lambda = mockClient(LambdaClient);
const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:planner';
const token = { chainStartedAt: '2026-12-01T06:00:00.000Z', attempt: 2 };

describe('createLambdaInvoker', () => {
  beforeEach(() => lambda.reset());

  it('queues the planner with { continuation } as its event', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 202, $metadata: {} });
    await createLambdaInvoker(new LambdaClient({ region: 'us-east-1' }), ARN).continueWith(token);
    const [call] = lambda.commandCalls(InvokeCommand);
    expect(call?.args[0].input).toMatchObject({ FunctionName: ARN, InvocationType: 'Event' });
    const payload = JSON.parse(new TextDecoder().decode(call?.args[0].input.Payload as Uint8Array));
    expect(payload).toEqual({ continuation: token });
  });

  it('fails when Lambda did not queue the event', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, $metadata: {} });
    await expect(
      createLambdaInvoker(new LambdaClient({ region: 'us-east-1' }), ARN).continueWith(token),
    ).rejects.toBeInstanceOf(InvokeNotAccepted);
  });
});
