// The sender Lambda: one invocation per delivery (from its schedule), writes the message and texts it. Its
// concurrency cap comes from the capacity plan: senderConcurrency(msg/s) in src/domain/capacity.ts. Scheduler
// invokes asynchronously, so a burst above it waits in Lambda's async queue (retried for up to the event age
// set in DeliveryScheduling): delayed, not lost.
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
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
      // Waiting for a pace slot and OpenAI's deadline fit well inside this; a stuck call must not linger.
      timeout: Duration.seconds(60),
      memorySize: 512,
    });
  }
}
