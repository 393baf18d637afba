// The EventBridge Scheduler adapter: exact CreateSchedule input, back-off on throttling, conflicts and
// missing schedules treated as success, other errors passed on.
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ServiceQuotaExceededException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  atExpression,
  createEventBridgeScheduler,
  maximumEventAgeSeconds,
  scheduleNameFor,
} from '../../src/adapters/eventbridge-scheduler.js';

const sdk = mockClient(SchedulerClient);
const deliveryId = '0b7f3c1e-6a4d-4c1b-9a55-0e8d5d8f2a10';
const target = {
  arn: 'arn:aws:lambda:us-east-1:123456789012:function:sender',
  roleArn: 'arn:aws:iam::123456789012:role/scheduler-invoke-sender',
  deadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:schedule-dlq',
};
const options = { groupName: 'daily-positivity', target };
const meta = { $metadata: {} };

function adapter(extra: Partial<Parameters<typeof createEventBridgeScheduler>[0]> = {}) {
  const sleeps: number[] = [];
  const scheduler = createEventBridgeScheduler({
    client: new SchedulerClient({ region: 'us-east-1' }),
    ...options,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
  return { scheduler, sleeps };
}

beforeEach(() => sdk.reset());

describe('EventBridge scheduler adapter', () => {
  it('creates a one-shot UTC schedule with the exact input the sender and the DLQ need', async () => {
    sdk.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn:aws:scheduler:…' });
    const { scheduler } = adapter();
    const name = await scheduler.schedule({
      deliveryId,
      at: new Date('2026-03-08T18:23:45.000Z'),
      windowEnd: new Date('2026-03-08T21:00:00.000Z'),
    });
    expect(name).toBe(`delivery-${deliveryId}`);
    expect(name.length).toBeLessThanOrEqual(64);
    const calls = sdk.commandCalls(CreateScheduleCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      Name: `delivery-${deliveryId}`,
      GroupName: 'daily-positivity',
      ClientToken: deliveryId,
      ScheduleExpression: 'at(2026-03-08T18:23:45)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      State: 'ENABLED',
      Target: {
        Arn: target.arn,
        RoleArn: target.roleArn,
        Input: JSON.stringify({ deliveryId }),
        RetryPolicy: { MaximumEventAgeInSeconds: 9_375, MaximumRetryAttempts: 185 },
        DeadLetterConfig: { Arn: target.deadLetterArn },
      },
    });
  });

  it.each([
    ['2026-03-08T20:59:30Z', '2026-03-08T21:00:00Z', 60], // at least the service minimum
    ['2026-03-08T16:00:00Z', '2026-03-08T21:00:00Z', 18_000],
    ['2026-03-08T00:00:00Z', '2026-03-10T00:00:00Z', 86_400], // at most the service maximum
  ])('retries of a send at %s stop by %s: %i s', (at, end, seconds) => {
    expect(maximumEventAgeSeconds(new Date(at), new Date(end))).toBe(seconds);
  });

  it('formats at() to the second, in UTC', () => {
    expect(atExpression(new Date('2026-01-01T03:04:05.999Z'))).toBe('at(2026-01-01T03:04:05)');
  });

  it('refuses a delivery id that cannot name a schedule', () => {
    expect(() => scheduleNameFor('x'.repeat(60))).toThrow(RangeError);
    expect(() => scheduleNameFor('a b')).toThrow(RangeError);
  });

  it('backs off with growing delays on throttling, halves concurrency, then succeeds', async () => {
    const throttle = new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', ...meta });
    sdk
      .on(CreateScheduleCommand)
      .rejectsOnce(throttle)
      .rejectsOnce(throttle)
      .rejectsOnce(throttle)
      .resolves({ ScheduleArn: 'arn' });
    const { scheduler, sleeps } = adapter({ maxConcurrency: 8, baseDelayMs: 100 });
    await scheduler.schedule({
      deliveryId,
      at: new Date('2026-03-08T18:00:00Z'),
      windowEnd: new Date('2026-03-08T21:00:00Z'),
    });
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(4);
    // Full jitter with random() = 0.5: half of 100, 200, 400 ms.
    expect(sleeps).toEqual([50, 100, 200]);
    expect(scheduler.stats().throttles).toBe(3);
    // 8 → 4 → 2 → 1 on the throttles, then +1 on the success.
    expect(scheduler.stats().concurrencyLimit).toBe(2);
  });

  it('gives up after maxAttempts throttled calls and reports the throttling', async () => {
    sdk
      .on(CreateScheduleCommand)
      .rejects(new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', ...meta }));
    const { scheduler, sleeps } = adapter({ maxAttempts: 3 });
    await expect(
      scheduler.schedule({
        deliveryId,
        at: new Date('2026-03-08T18:00:00Z'),
        windowEnd: new Date('2026-03-08T21:00:00Z'),
      }),
    ).rejects.toThrow(ThrottlingException);
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('starts no retry past its retry budget, so a call ends within the budget and one send', async () => {
    // Prepare: every call throttled; the clock moves only by the back-off slept (50 ms, then 100 ms).
    sdk
      .on(CreateScheduleCommand)
      .rejects(new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', ...meta }));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { scheduler, sleeps } = adapter({
        retryBudgetMs: 120,
        sleep: async (ms) => {
          sleeps.push(ms);
          vi.setSystemTime(Date.now() + ms);
        },
      });

      // Act
      const created = scheduler.schedule({
        deliveryId,
        at: new Date('2026-03-08T18:00:00Z'),
        windowEnd: new Date('2026-03-08T21:00:00Z'),
      });

      // Assess: the second retry would start 150 ms in, past the budget: two calls, the throttling reported.
      await expect(created).rejects.toThrow(ThrottlingException);
      expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(2);
      expect(sleeps).toEqual([50]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a full "Number of schedules" quota is not throttling: one call, no back-off, concurrency kept', async () => {
    // Retrying cannot help (schedules leave the quota only as they fire), and halving the gate would slow
    // every other call of the run.
    sdk.on(CreateScheduleCommand).rejects(
      new ServiceQuotaExceededException({
        message: 'You have exceeded the number of schedules',
        Message: 'You have exceeded the number of schedules',
        ...meta,
      }),
    );
    const { scheduler, sleeps } = adapter({ maxConcurrency: 8 });
    const created = scheduler.schedule({
      deliveryId,
      at: new Date('2026-03-08T18:00:00Z'),
      windowEnd: new Date('2026-03-08T21:00:00Z'),
    });
    await expect(created).rejects.toMatchObject({
      name: 'ScheduleQuotaExceeded',
      cause: expect.objectContaining({ name: 'ServiceQuotaExceededException' }),
    });
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(scheduler.stats()).toEqual({ throttles: 0, concurrencyLimit: 8 });
  });

  it('treats ConflictException as already created (a re-run is safe)', async () => {
    sdk
      .on(CreateScheduleCommand)
      .rejects(new ConflictException({ message: 'exists', Message: 'exists', ...meta }));
    const { scheduler } = adapter();
    await expect(
      scheduler.schedule({
        deliveryId,
        at: new Date('2026-03-08T18:00:00Z'),
        windowEnd: new Date('2026-03-08T21:00:00Z'),
      }),
    ).resolves.toBe(`delivery-${deliveryId}`);
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(1);
  });

  it('passes on other errors without retrying', async () => {
    sdk
      .on(CreateScheduleCommand)
      .rejects(new ValidationException({ message: 'bad role', Message: 'bad role', ...meta }));
    const { scheduler, sleeps } = adapter();
    await expect(
      scheduler.schedule({
        deliveryId,
        at: new Date('2026-03-08T18:00:00Z'),
        windowEnd: new Date('2026-03-08T21:00:00Z'),
      }),
    ).rejects.toThrow('bad role');
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('deletes the schedule on cancel; a missing one is not an error', async () => {
    sdk
      .on(DeleteScheduleCommand)
      .resolvesOnce({})
      .rejects(new ResourceNotFoundException({ message: 'gone', Message: 'gone', ...meta }));
    const { scheduler } = adapter();
    await scheduler.cancel(deliveryId);
    await scheduler.cancel(deliveryId);
    const calls = sdk.commandCalls(DeleteScheduleCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([
      { Name: `delivery-${deliveryId}`, GroupName: 'daily-positivity' },
      { Name: `delivery-${deliveryId}`, GroupName: 'daily-positivity' },
    ]);
  });

  it('cancels with one attempt: a throttled delete is passed on at once, without back-off', async () => {
    // A cancel runs inside a request (an opt-out, a test send) and the schedule left behind is harmless.
    sdk
      .on(DeleteScheduleCommand)
      .rejects(new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', ...meta }));
    const { scheduler, sleeps } = adapter();
    await expect(scheduler.cancel(deliveryId)).rejects.toThrow(ThrottlingException);
    expect(sdk.commandCalls(DeleteScheduleCommand)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('keeps no more calls in flight than its concurrency limit', async () => {
    let inFlight = 0;
    let peak = 0;
    sdk.on(CreateScheduleCommand).callsFake(async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return {};
    });
    const { scheduler } = adapter({ maxConcurrency: 4 });
    const ids = Array.from(
      { length: 40 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    await Promise.all(
      ids.map((id) =>
        scheduler.schedule({
          deliveryId: id,
          at: new Date('2026-03-08T18:00:00Z'),
          windowEnd: new Date('2026-03-08T21:00:00Z'),
        }),
      ),
    );
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(40);
    expect(peak).toBe(4);
  });
});

// The CreateSchedule API's own limits (API reference, CreateSchedule / Target / RetryPolicy), checked on the
// input the adapter sends for any delivery: a value outside them is a ValidationException for that
// delivery in AWS, which no unit test with a fixed example would show.
const SCHEDULE_NAME = /^[0-9a-zA-Z\-_.]{1,64}$/;
const CLIENT_TOKEN = /^[a-zA-Z0-9\-_]{1,64}$/;
const AT = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/;
const HOUR_MS = 3_600_000;

describe('CreateSchedule input, for any delivery', () => {
  it('stays within every limit of the API and fires at the planned second, in UTC', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uuid(),
        fc.date({
          min: new Date('2026-01-01T00:00:00Z'),
          max: new Date('2099-12-31T00:00:00Z'),
          noInvalidDate: true,
        }),
        // Window end from just after the send to two days later (longer than the 24 h retry limit).
        fc.integer({ min: 1, max: 48 * HOUR_MS }),
        async (id, at, windowMs) => {
          sdk.reset();
          sdk.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn' });
          const { scheduler } = adapter({ groupName: 'daily-positivity-dev' });

          const name = await scheduler.schedule({
            deliveryId: id,
            at,
            windowEnd: new Date(at.getTime() + windowMs),
          });

          const input = sdk.commandCalls(CreateScheduleCommand)[0]?.args[0].input;
          expect(input?.Name).toBe(name);
          expect(name).toMatch(SCHEDULE_NAME);
          expect(input?.GroupName).toMatch(SCHEDULE_NAME);
          expect(input?.ClientToken).toMatch(CLIENT_TOKEN);
          // One-time schedules take no offset and no fraction; the time is read in ScheduleExpressionTimezone.
          const when = AT.exec(input?.ScheduleExpression ?? '')?.[1];
          expect(when, input?.ScheduleExpression).toBeDefined();
          expect(input?.ScheduleExpressionTimezone).toBe('UTC');
          expect(Date.parse(`${when}Z`)).toBe(Math.floor(at.getTime() / 1000) * 1000);
          expect(input).toMatchObject({
            FlexibleTimeWindow: { Mode: 'OFF' },
            ActionAfterCompletion: 'DELETE',
          });
          const retry = input?.Target?.RetryPolicy;
          expect(Number.isInteger(retry?.MaximumEventAgeInSeconds)).toBe(true);
          expect(retry?.MaximumEventAgeInSeconds).toBeGreaterThanOrEqual(60);
          expect(retry?.MaximumEventAgeInSeconds).toBeLessThanOrEqual(86_400);
          expect(Number.isInteger(retry?.MaximumRetryAttempts)).toBe(true);
          expect(retry?.MaximumRetryAttempts).toBeGreaterThanOrEqual(0);
          expect(retry?.MaximumRetryAttempts).toBeLessThanOrEqual(185);
          // Retries never outlive the window, except for the API's 60 s minimum.
          expect((retry?.MaximumEventAgeInSeconds ?? 0) * 1000).toBeLessThanOrEqual(
            Math.max(60_000, windowMs),
          );
          expect(input?.Target?.Input?.length).toBeLessThanOrEqual(8192);
          expect(JSON.parse(input?.Target?.Input ?? 'null')).toEqual({ deliveryId: id });
          expect(input?.Target).toMatchObject({
            Arn: target.arn,
            RoleArn: target.roleArn,
            DeadLetterConfig: { Arn: target.deadLetterArn },
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('cancels by the same name in the same group', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uuid(), async (id) => {
        sdk.reset();
        sdk.on(CreateScheduleCommand).resolves({});
        sdk.on(DeleteScheduleCommand).resolves({});
        const { scheduler } = adapter();
        const name = await scheduler.schedule({ deliveryId: id, at: new Date(), windowEnd: new Date() });
        await scheduler.cancel(id);
        expect(sdk.commandCalls(DeleteScheduleCommand)[0]?.args[0].input).toEqual({
          Name: name,
          GroupName: options.groupName,
        });
      }),
      { numRuns: 50 },
    );
  });
});
