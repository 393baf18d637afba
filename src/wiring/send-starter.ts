// The webhooks Lambda's test sends: the sender Lambda, invoked asynchronously.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { createLambdaSendStarter } from '../adapters/lambda-send-starter.js';
import type { Requiring } from '../config.js';
import type { SendStarter } from '../services/ports.js';

export function lambdaSendStarter(config: Requiring<'SENDER_FUNCTION_ARN'>): SendStarter {
  return createLambdaSendStarter({ client: new LambdaClient({}), functionArn: config.SENDER_FUNCTION_ARN });
}
