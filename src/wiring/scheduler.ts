// EventBridge Scheduler for the planner (creates schedules) and webhooks (cancels them on opt-out).
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { createEventBridgeScheduler } from '../adapters/eventbridge-scheduler.js';
import type { Requiring } from '../config.js';
import type { DeliveryScheduler } from '../services/ports.js';

/**
 * The scheduler in the configured group. With the sender's ARN, role and DLQ it can create schedules
 * (planner); without them it only cancels (webhooks, on opt-out).
 */
export function eventBridgeScheduler(config: Requiring<'SCHEDULER_GROUP_NAME'>): DeliveryScheduler {
  const { SENDER_FUNCTION_ARN, SCHEDULER_ROLE_ARN, SCHEDULER_DLQ_ARN } = config;
  return createEventBridgeScheduler({
    client: new SchedulerClient({}),
    groupName: config.SCHEDULER_GROUP_NAME,
    target:
      SENDER_FUNCTION_ARN && SCHEDULER_ROLE_ARN && SCHEDULER_DLQ_ARN
        ? { arn: SENDER_FUNCTION_ARN, roleArn: SCHEDULER_ROLE_ARN, deadLetterArn: SCHEDULER_DLQ_ARN }
        : undefined,
  });
}
