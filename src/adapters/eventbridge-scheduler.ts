// EventBridge Scheduler: one one-shot schedule per delivery that invokes the sender Lambda at the planned
// second. Creation is idempotent (deterministic name + ClientToken; ConflictException means "exists"), and
// calls go through an adaptive gate that halves concurrency and backs off when AWS throttles. A full
// "Number of schedules" quota is not throttling: it is reported at once as ScheduleQuotaExceeded.
import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  DeleteScheduleCommand,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { logger } from '../logger.js';
import { type DeliveryScheduler, ScheduleQuotaExceeded, type ScheduleRequest } from '../services/ports.js';

export interface EventBridgeSchedulerOptions {
  client: Pick<SchedulerClient, 'send'>;
  groupName: string;
  /**
   * Where schedules send their event: the sender Lambda, the role EventBridge Scheduler assumes to invoke
   * it, and the SQS queue for invocations that still fail when their retries run out. Absent for a
   * cancel-only scheduler: the webhooks Lambda only deletes schedules (on opt-out), so it is given
   * neither the sender's ARN nor the right to pass the invoke role.
   */
  target?: { arn: string; roleArn: string; deadLetterArn: string };
  /** Upper bound on calls in flight (default 20). */
  maxConcurrency?: number;
  /**
   * Throttled attempts per CreateSchedule before giving up (default 8); the planner's next run retries. A
   * cancel makes one: it runs inside a request (an opt-out, a test send) and a schedule left behind is
   * harmless, since the sender ignores a delivery no longer planned.
   */
  maxAttempts?: number;
  /**
   * No retry of a throttled call starts later than this after its first attempt (default: no limit), so one
   * call, retries included, takes at most this plus one send (src/domain/call-budgets.ts).
   */
  retryBudgetMs?: number;
  /** Back-off base and cap in ms (defaults 100 and 5,000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const NAME_PATTERN = /^[0-9a-zA-Z-_.]{1,64}$/;

/** The schedule's name for a delivery: deterministic, so a repeat is recognised, and ≤ 64 characters. */
export function scheduleNameFor(deliveryId: string): string {
  const name = `delivery-${deliveryId}`;
  if (!NAME_PATTERN.test(name)) throw new RangeError(`delivery id cannot name a schedule: ${deliveryId}`);
  return name;
}

/** at(yyyy-mm-ddThh:mm:ss) in UTC, to the second. */
export function atExpression(at: Date): string {
  return `at(${at.toISOString().slice(0, 19)})`;
}

/** Retries stop when the window closes: never less than 60 s or more than 24 h (the service limits). */
export function maximumEventAgeSeconds(at: Date, windowEnd: Date): number {
  const seconds = Math.floor((windowEnd.getTime() - at.getTime()) / 1000);
  return Math.min(86_400, Math.max(60, seconds));
}

const isNamed = (error: unknown, ...names: string[]) =>
  error instanceof Error && names.includes((error as { name: string }).name);

/**
 * Request-rate refusals, worth backing off and retrying. Not ServiceQuotaExceededException: on
 * CreateSchedule that is the account's count of schedules, which only falls as schedules fire.
 */
const THROTTLED = ['ThrottlingException', 'TooManyRequestsException'];

/** Additive-increase / multiplicative-decrease limit on calls in flight. */
class AdaptiveGate {
  private limit: number;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {
    this.limit = max;
  }

  async acquire(): Promise<void> {
    if (this.inFlight < Math.floor(this.limit)) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.inFlight <= Math.floor(this.limit) ? this.waiting.shift() : undefined;
    if (next) next();
    else this.inFlight--;
  }

  throttled(): void {
    this.limit = Math.max(1, this.limit / 2);
  }

  succeeded(): void {
    this.limit = Math.min(this.max, this.limit + 1 / this.limit);
    // A raised limit lets queued calls start without waiting for a release.
    while (this.inFlight < Math.floor(this.limit) && this.waiting.length > 0) {
      this.inFlight++;
      this.waiting.shift()?.();
    }
  }

  get currentLimit(): number {
    return this.limit;
  }
}

export function createEventBridgeScheduler(options: EventBridgeSchedulerOptions): DeliveryScheduler & {
  stats(): { throttles: number; concurrencyLimit: number };
} {
  const gate = new AdaptiveGate(options.maxConcurrency ?? 20);
  const maxAttempts = options.maxAttempts ?? 8;
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 5_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const retryBudgetMs = options.retryBudgetMs ?? Number.POSITIVE_INFINITY;
  let throttles = 0;

  async function call<T>(send: () => Promise<T>, attempts = maxAttempts): Promise<T> {
    const started = Date.now();
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      await gate.acquire();
      // Waiting for a turn counts too: calls queued behind a halved limit must not outlast the budget.
      if (Date.now() - started >= retryBudgetMs) {
        gate.release();
        throw lastError ?? new Error(`no turn to call EventBridge Scheduler within ${retryBudgetMs} ms`);
      }
      try {
        const result = await send();
        gate.succeeded();
        return result;
      } catch (error) {
        if (!isNamed(error, ...THROTTLED) || attempt >= attempts) throw error;
        lastError = error;
        throttles++;
        gate.throttled();
      } finally {
        gate.release();
      }
      // Full jitter: spreads retries of many concurrent callers.
      const delay = Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      if (Date.now() + delay - started >= retryBudgetMs) throw lastError;
      await sleep(delay);
    }
  }

  return {
    async schedule(request: ScheduleRequest): Promise<string> {
      const target = options.target;
      if (!target) throw new Error('this EventBridge scheduler was built to cancel only: it has no target');
      const name = scheduleNameFor(request.deliveryId);
      const input: CreateScheduleCommandInput = {
        Name: name,
        GroupName: options.groupName,
        ClientToken: request.deliveryId,
        ScheduleExpression: atExpression(request.at),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        State: 'ENABLED',
        Target: {
          Arn: target.arn,
          RoleArn: target.roleArn,
          Input: JSON.stringify({ deliveryId: request.deliveryId }),
          RetryPolicy: {
            MaximumEventAgeInSeconds: maximumEventAgeSeconds(request.at, request.windowEnd),
            MaximumRetryAttempts: 185,
          },
          DeadLetterConfig: { Arn: target.deadLetterArn },
        },
      };
      try {
        await call(() => options.client.send(new CreateScheduleCommand(input)));
      } catch (error) {
        if (isNamed(error, 'ServiceQuotaExceededException')) {
          const reason = (error as Error).message;
          throw new ScheduleQuotaExceeded(
            `EventBridge Scheduler holds as many schedules as the account's "Number of schedules" quota allows (${reason})`,
            { cause: error },
          );
        }
        // Same name already in the group: an earlier (perhaps timed-out) run created it.
        if (!isNamed(error, 'ConflictException')) throw error;
        logger.debug('schedule already exists', { name });
      }
      return name;
    },

    async cancel(deliveryId: string): Promise<void> {
      const name = scheduleNameFor(deliveryId);
      try {
        await call(
          () => options.client.send(new DeleteScheduleCommand({ Name: name, GroupName: options.groupName })),
          1,
        );
      } catch (error) {
        // Already fired (ActionAfterCompletion DELETE) or never created: nothing to cancel.
        if (!isNamed(error, 'ResourceNotFoundException')) throw error;
      }
    },

    stats: () => ({ throttles, concurrencyLimit: gate.currentLimit }),
  };
}
