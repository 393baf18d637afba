// The webhooks Lambda's test sends: the sender Lambda, invoked asynchronously.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { boundedAwsClient } from '../adapters/aws-clients.js';
import { createLambdaSendStarter } from '../adapters/lambda-send-starter.js';
import type { Requiring } from '../config.js';
import { AWS_CALLS } from '../domain/call-budgets.js';
import type { SendStarter } from '../services/ports.js';

export function lambdaSendStarter(config: Requiring<'SENDER_FUNCTION_ARN'>): SendStarter {
  return createLambdaSendStarter({
    client: boundedAwsClient(LambdaClient, AWS_CALLS.sendStart),
    functionArn: config.SENDER_FUNCTION_ARN,
  });
}
