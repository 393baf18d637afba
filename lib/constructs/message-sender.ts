// The sender Lambda: one invocation per delivery (from its schedule), writes the message and texts it.
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ServiceFunction, type ServiceFunctionShared } from './service-function.js';

/** Seconds one send takes at worst in normal operation: OpenAI writing (~1–3 s) plus Twilio's create call. */
export const SEND_SECONDS_BUDGET = 5;

/**
 * Concurrency that keeps up with the Twilio pace without piling up waiters: at `perSecond` messages a
 * second, each invocation busy for up to SEND_SECONDS_BUDGET seconds, about perSecond × budget are in
 * flight. Scheduler invokes asynchronously, so a burst above it waits in Lambda's async queue (retried
 * for up to the event age set in DeliveryScheduling): delayed, not lost.
 */
export function senderConcurrency(messagesPerSecond: number): number {
  return Math.max(2, Math.ceil(messagesPerSecond * SEND_SECONDS_BUDGET));
}

export interface MessageSenderProps {
  shared: ServiceFunctionShared;
  twilioMessagesPerSecond: number;
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
      reservedConcurrentExecutions: senderConcurrency(props.twilioMessagesPerSecond),
    });
  }
}
