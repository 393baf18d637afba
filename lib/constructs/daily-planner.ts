// The daily EventBridge rule and the planner Lambda it runs; the planner turns the day into one-shot
// schedules in the delivery-scheduling group, and a run that reaches its deadline with work left starts
// the next run of itself (src/services/planner-continuation.ts).
import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { LAMBDA_TIMEOUT_MS } from '../../src/domain/call-budgets.js';
import type { DeliveryScheduling } from './delivery-scheduling.js';
import { ServiceFunction, type ServiceFunctionShared } from './service-function.js';

export interface DailyPlannerProps {
  shared: ServiceFunctionShared;
  scheduling: DeliveryScheduling;
  sender: lambda.IFunction;
  /** EventBridge cron expression, UTC. */
  dailyCron: string;
}

export class DailyPlanner extends Construct {
  readonly function: ServiceFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DailyPlannerProps) {
    super(scope, id);
    const { scheduling } = props;

    this.function = new ServiceFunction(this, 'Planner', {
      shared: props.shared,
      name: 'planner',
      description: 'Plans each subscriber’s next message and creates its one-shot schedule',
      // 100,000 subscribers: bulk inserts plus throttled CreateSchedule calls; a timed-out run resumes.
      timeout: Duration.millis(LAMBDA_TIMEOUT_MS.planner),
      memorySize: 1024,
      environment: {
        SCHEDULER_GROUP_NAME: scheduling.group.scheduleGroupName,
        SCHEDULER_ROLE_ARN: scheduling.invokeRole.roleArn,
        SCHEDULER_DLQ_ARN: scheduling.deadLetterQueue.queueArn,
        SENDER_FUNCTION_ARN: props.sender.functionArn,
      },
    });
    scheduling.grantManageSchedules(this.function.fn);
    // The continuation is an asynchronous Invoke of this function by itself. Its own policy: in the role's
    // default policy the function's ARN would make the function depend on itself.
    new iam.Policy(this, 'InvokeItself', {
      roles: [this.function.fn.role as iam.IRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [this.function.fn.functionArn],
        }),
      ],
    });
    Validations.of(this.function).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${scheduling.groupName}/*]`,
      reason:
        'Schedule names are per delivery, made at run time; the wildcard is schedule/<this group>/* and nothing wider.',
    });

    this.rule = new events.Rule(this, 'Daily', {
      description: 'Runs the planner once a day',
      schedule: events.Schedule.expression(props.dailyCron),
      targets: [
        new targets.LambdaFunction(this.function.fn, {
          retryAttempts: 2,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
  }
}
