// Schedule creation: the real EventBridge adapter against an in-process Scheduler API that answers in
// ~15 ms and throws ThrottlingException above a set quota (a token bucket, like AWS's), fed by the
// planner's own concurrency. Achieved rate vs the quota; every schedule created exactly once.
import { createEventBridgeScheduler } from '../../src/adapters/eventbridge-scheduler.js';
import type { DeliveryScheduler } from '../../src/services/ports.js';
import type { BenchRow } from './report.js';

/** A fake SchedulerClient: token bucket of `perSecond` (starts full), names remembered to spot duplicates. */
export function throttlingSchedulerFake(perSecond: number, latencyMs = 15) {
  let tokens = perSecond;
  let last = performance.now();
  const names = new Set<string>();
  const stats = { calls: 0, throttled: 0, conflicts: 0 };
  const send = async (command: { input: unknown }) => {
    stats.calls++;
    await new Promise((r) => setTimeout(r, latencyMs));
    const nowMs = performance.now();
    tokens = Math.min(perSecond, tokens + ((nowMs - last) / 1000) * perSecond);
    last = nowMs;
    if (tokens < 1) {
      stats.throttled++;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    tokens -= 1;
    const { Name } = command.input as { Name: string };
    if (names.has(Name)) {
      stats.conflicts++;
      throw Object.assign(new Error('schedule exists'), { name: 'ConflictException' });
    }
    names.add(Name);
    return {};
  };
  return { client: { send } as never, names, stats, burst: perSecond };
}

/** `count` distinct, fixed delivery ids (UUID-shaped). */
export function deliveryIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
}

/**
 * Creates one schedule per id through `scheduler`, an hour ahead, with the planner's own concurrency (16
 * calls in flight, as in planDay) on top of the adapter's adaptive gate. A schedule call that still fails
 * after the adapter's retries is counted, not thrown.
 */
export async function createSchedules(
  scheduler: DeliveryScheduler,
  ids: string[],
  concurrency = 16,
): Promise<{ seconds: number; failed: number }> {
  const at = new Date(Date.now() + 3_600_000);
  const windowEnd = new Date(at.getTime() + 3_600_000);
  let next = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        await scheduler.schedule({ deliveryId: id, at, windowEnd }).catch(() => failed++);
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, failed };
}

export async function benchScheduling(options: {
  schedules: number;
  quotaPerSecond: number;
}): Promise<BenchRow[]> {
  const { schedules, quotaPerSecond } = options;
  const fake = throttlingSchedulerFake(quotaPerSecond);
  const adapter = createEventBridgeScheduler({
    client: fake.client,
    groupName: 'bench',
    target: {
      arn: 'arn:aws:lambda:us-east-1:123456789012:function:sender',
      roleArn: 'arn:aws:iam::123456789012:role/scheduler',
      deadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:dlq',
    },
  });
  const ids = deliveryIds(schedules);
  const { seconds, failed } = await createSchedules(adapter, ids);
  const lost = ids.filter((id) => !fake.names.has(`delivery-${id}`)).length;
  // The bucket starts full: those first `burst` calls are free of the quota, so they are left out.
  const sustained = Math.max(0, fake.names.size - fake.burst) / seconds;
  const share = sustained / quotaPerSecond;
  const ok = failed === 0 && lost === 0 && fake.stats.conflicts === 0;
  return [
    {
      section: 'scheduling',
      metric: `${schedules.toLocaleString('en-US')} CreateSchedule via the adapter`,
      value: sustained,
      unit: 'schedules/s',
      baseline: { label: 'fake API quota', value: quotaPerSecond, unit: '/s' },
      ratio: share,
      target: { text: '≥ 0.9× of quota', met: share >= 0.9 },
      note: `${seconds.toFixed(2)} s; rate excludes the bucket's initial ${fake.burst} burst`,
    },
    {
      section: 'scheduling',
      metric: 'throttles survived / lost / duplicate',
      value: fake.stats.throttled,
      unit: `throttled, ${failed} gave up, ${lost} lost, ${fake.stats.conflicts} duplicate`,
      target: { text: '0 lost, 0 duplicate, 0 gave up', met: ok },
      note: `${fake.stats.calls} calls for ${schedules} schedules`,
    },
  ];
}
