// Settings the webhooks Lambda requires besides its secrets and PUBLIC_BASE_URL (LAMBDA_NEEDS in
// src/config.ts): what the stack sets on it, with the dev stage's capacity inputs.
import { loadCapacitySettings } from '../../lib/stack-settings.js';

export const SENDER_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:111122223333:function:sender';

export const WEBHOOKS_ENV = {
  SCHEDULER_GROUP_NAME: 'daily-positivity',
  SENDER_FUNCTION_ARN,
  CAPACITY_SETTINGS: JSON.stringify({ stage: 'dev', settings: loadCapacitySettings({ stage: 'dev' }) }),
} as const;
