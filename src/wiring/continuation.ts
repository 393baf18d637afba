// The planner's Lambda client, for starting the next run of itself (src/adapters/lambda-invoker.ts).
import { LambdaClient } from '@aws-sdk/client-lambda';
import { boundedAwsClient } from '../adapters/aws-clients.js';
import { AWS_CALLS } from '../domain/call-budgets.js';

/** Bounded so the Invoke made after the run's deadline ends inside the time the planner keeps for it. */
export function plannerLambdaClient(): LambdaClient {
  return boundedAwsClient(LambdaClient, AWS_CALLS.plannerContinuation);
}
