// Where the planner puts one-shot schedules: a dedicated schedule group, the role EventBridge Scheduler
// assumes to invoke the sender (and nothing else), and a dead-letter queue for deliveries that could not be
// handed to the sender or that failed in it after retries.
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

const senderCfn = (fn: lambda.IFunction) => fn.node.defaultChild as CfnElement;

export interface DeliverySchedulingProps {
  stage: string;
  sender: lambda.IFunction;
}

export class DeliveryScheduling extends Construct {
  readonly group: scheduler.ScheduleGroup;
  /** Literal group name (SCHEDULER_GROUP_NAME); schedules are named inside it at run time. */
  readonly groupName: string;
  readonly invokeRole: iam.Role;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DeliverySchedulingProps) {
    super(scope, id);
    const { account } = Stack.of(this);

    this.groupName = `daily-positivity-${props.stage}`;
    // Deleted with the stack (aws-cdk-lib retains it by default): Scheduler then deletes the pending
    // schedules in it, which would otherwise keep firing at a sender that no longer exists, and the fixed
    // name is free for the stage to be deployed again.
    this.group = new scheduler.ScheduleGroup(this, 'Group', {
      scheduleGroupName: this.groupName,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue for failed schedule deliveries.',
    });

    this.invokeRole = new iam.Role(this, 'InvokeSenderRole', {
      description: 'Assumed by EventBridge Scheduler to invoke the sender Lambda only',
      // Only schedules of this account may assume it (confused-deputy guard).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    });
    props.sender.grantInvoke(this.invokeRole);
    this.deadLetterQueue.grantSendMessages(this.invokeRole);

    // Scheduler invokes Lambda asynchronously: its retry policy and DLQ cover failed Invoke calls, while
    // function errors and throttles are retried by Lambda's own async queue. Deliveries that exhaust those
    // land in the same queue, so operators look in one place.
    props.sender.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6), // the longest send window is 5 h; the sender refuses late sends itself
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
    });
    Validations.of(this.invokeRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(senderCfn(props.sender))}.Arn>:*]`,
      reason:
        'grantInvoke adds <sender ARN>:* so versions/aliases of the sender can be invoked; no other function.',
    });
  }

  /**
   * Lets `fn` delete schedules in this group only, and names the group in its environment: the webhooks
   * Lambda cancels a subscriber's planned schedule when they opt out.
   */
  grantCancelSchedules(fn: lambda.Function): void {
    this.group.grantDeleteSchedules(fn);
    fn.addEnvironment('SCHEDULER_GROUP_NAME', this.group.scheduleGroupName);
    Validations.of(fn).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.groupName}/*]`,
      reason:
        'Opt-out cancels the schedule of that delivery, named at run time; delete only, in schedule/<this group>/* only.',
    });
  }

  /** Lets `planner` create and delete schedules in this group only, passing only the invoke role. */
  grantManageSchedules(planner: lambda.IFunction): void {
    this.group.grantWriteSchedules(planner);
    this.group.grantDeleteSchedules(planner);
    this.invokeRole.grantPassRole(planner.grantPrincipal);
  }
}
