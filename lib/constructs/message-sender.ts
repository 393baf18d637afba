// The sender Lambda: one invocation per delivery (from its schedule), writes the message and texts it. Its
// concurrency cap comes from the capacity plan: senderConcurrency(msg/s) in src/domain/capacity.ts. Scheduler
// invokes asynchronously, so a burst above it waits in Lambda's async queue (retried for up to the event age
// set in DeliveryScheduling): delayed, not lost.
import { type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { LAMBDA_TIMEOUT_MS } from '../../src/domain/call-budgets.js';
import { ServiceFunction, type ServiceFunctionShared } from './service-function.js';

export interface MessageSenderProps {
  shared: ServiceFunctionShared;
}

export class MessageSender extends Construct {
  readonly function: ServiceFunction;

  constructor(scope: Construct, id: string, props: MessageSenderProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, 'Sender', {
      shared: props.shared,
      name: 'sender',
      description: 'Writes and texts one subscriber’s daily message',
      // Every call of a send at its bound still fits (src/domain/call-budgets.ts, senderWorstCaseMs).
      timeout: Duration.millis(LAMBDA_TIMEOUT_MS.sender),
      memorySize: 512,
    });
  }

  /**
   * Lets `fn` start a send now (an operator's test send): invoke this function, asynchronously, with the
   * event its schedules send. Failures take the same path as a scheduled send's (Lambda's async retries,
   * then the dead-letter queue). `fn` is told the ARN, and gains no secret.
   */
  grantTestSends(fn: lambda.Function): void {
    this.function.fn.grantInvoke(fn);
    fn.addEnvironment('SENDER_FUNCTION_ARN', this.function.fn.functionArn);
    const senderId = Stack.of(this).getLogicalId(this.function.fn.node.defaultChild as CfnElement);
    Validations.of(fn).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${senderId}.Arn>:*]`,
      reason:
        'grantInvoke adds <sender ARN>:* so versions/aliases of the sender can be invoked; no other function.',
    });
  }
}
