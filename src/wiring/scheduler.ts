// EventBridge Scheduler for the planner (creates schedules) and webhooks and sender (cancel them on opt-out).
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { boundedAwsClient } from '../adapters/aws-clients.js';
import { createEventBridgeScheduler } from '../adapters/eventbridge-scheduler.js';
import type { Requiring } from '../config.js';
import { AWS_CALLS, SCHEDULE_CREATE } from '../domain/call-budgets.js';
import type { DeliveryScheduler } from '../services/ports.js';

/**
 * The scheduler in the configured group. With the sender's ARN, role and DLQ it can create schedules
 * (planner, whose calls are bounded to fit the time it keeps after its deadline); without them it only
 * cancels (webhooks, sender), within the time a request has left after its database work.
 */
export function eventBridgeScheduler(config: Requiring<'SCHEDULER_GROUP_NAME'>): DeliveryScheduler {
  const { SENDER_FUNCTION_ARN, SCHEDULER_ROLE_ARN, SCHEDULER_DLQ_ARN } = config;
  const target =
    SENDER_FUNCTION_ARN && SCHEDULER_ROLE_ARN && SCHEDULER_DLQ_ARN
      ? { arn: SENDER_FUNCTION_ARN, roleArn: SCHEDULER_ROLE_ARN, deadLetterArn: SCHEDULER_DLQ_ARN }
      : undefined;
  return createEventBridgeScheduler({
    client: boundedAwsClient(SchedulerClient, target ? AWS_CALLS.scheduleCreate : AWS_CALLS.scheduleCancel),
    groupName: config.SCHEDULER_GROUP_NAME,
    target,
    maxAttempts: SCHEDULE_CREATE.maxAttempts,
    retryBudgetMs: SCHEDULE_CREATE.retryBudgetMs,
  });
}
