// The deployed planner handler at its deadline (real Postgres, the AWS SDK clients mocked at the API
// boundary): it starts the next run of itself with a resume token (an asynchronous Lambda Invoke),
// publishes PlannerWorkLeft, and when it cannot hand the work on, says how much waits for tomorrow.
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, SchedulerClient, ValidationException } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE, MetricName, MetricService } from '../../src/metrics.js';
import { MAX_CONTINUATIONS } from '../../src/services/planner-continuation.js';
import { captureStdout } from '../support/capture-stdout.js';
import { useTestDb } from '../support/db.js';

const t = useTestDb();
const lambda = mockClient(LambdaClient);
const scheduler = mockClient(SchedulerClient);
const saved = { ...process.env };
const SELF = 'arn:aws:lambda:us-east-1:123456789012:function:daily-positivity-dev-planner';
const meta = { $metadata: {} };

/** A context with `seconds` left before the Lambda times out (the handler stops 30 s before that). */
const contextWith = (seconds: number) => ({
  awsRequestId: 'req-1',
  functionName: 'daily-positivity-dev-planner',
  invokedFunctionArn: SELF,
  getRemainingTimeInMillis: () => seconds * 1000,
});

const stdout = captureStdout();
/** The PlannerWorkLeft values the handler published (EMF on stdout), with their service dimension. */
function workLeftPublished(): { value: number; service: unknown }[] {
  return stdout
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"') && line.includes(MetricName.PlannerWorkLeft))
    .map(
      (line) =>
        JSON.parse(line) as Record<string, unknown> & {
          _aws: { CloudWatchMetrics: { Namespace: string }[] };
        },
    )
    .map((doc) => {
      expect(doc._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
      return { value: doc[MetricName.PlannerWorkLeft] as number, service: doc.service };
    });
}
const invokes = () => lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input);
const payloadOf = (input: { Payload?: Uint8Array }) => JSON.parse(new TextDecoder().decode(input.Payload));

describe('planner handler: continuation at the deadline', () => {
  beforeAll(() => {
    Object.assign(process.env, {
      SCHEDULER_GROUP_NAME: 'daily-positivity-dev',
      SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/scheduler-invoke',
      SCHEDULER_DLQ_ARN: 'arn:aws:sqs:us-east-1:123456789012:scheduling-dlq',
      SENDER_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:sender',
    });
  });
  afterAll(() => {
    process.env = saved;
  });
  beforeEach(async () => {
    process.env.DATABASE_URL = t.url();
    lambda.reset();
    scheduler.reset();
    lambda.on(InvokeCommand).resolves({ StatusCode: 202, ...meta });
    scheduler.on(CreateScheduleCommand).callsFake((input: { Name: string }) => ({
      ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/daily-positivity-dev/${input.Name}`,
      ...meta,
    }));
    await sql`
      INSERT INTO subscribers (phone, status, time_zone)
      SELECT '+1415' || lpad(g::text, 7, '0'), 'active', (ARRAY['America/New_York', 'Asia/Kolkata', 'Pacific/Kiritimati'])[1 + g % 3]
      FROM generate_series(1, 30) AS g`.execute(t.db());
  });

  it('starts the next run of itself with a resume token, and that run finishes the work', async () => {
    const { handler } = await import('../../src/handlers/planner.js');
    // No time left for schedule calls: every planned delivery is left unscheduled.
    const first = await handler({}, contextWith(30));
    expect(first.planned).toBeGreaterThan(0);
    expect(first).toMatchObject({ scheduled: 0, remaining: first.planned, leftBehind: 0 });
    expect(invokes()).toHaveLength(1);
    const [invoke] = invokes();
    expect(invoke).toMatchObject({ FunctionName: SELF, InvocationType: 'Event' });
    const token = payloadOf(invoke as { Payload?: Uint8Array });
    expect(token).toEqual({ continuation: { chainStartedAt: expect.any(String), attempt: 1 } });
    expect(first.continuation).toEqual(token.continuation);
    expect(workLeftPublished()).toEqual([{ value: 0, service: MetricService.planner }]);

    // Lambda delivers the queued event: the continuation schedules everything and stops the chain.
    stdout.length = 0;
    const second = await handler(token, contextWith(600));
    expect(second).toMatchObject({ planned: 0, scheduled: first.planned, remaining: 0, failed: 0 });
    expect(second.continuation).toBeNull();
    expect(invokes()).toHaveLength(1);
    expect(workLeftPublished()).toEqual([{ value: 0, service: MetricService.planner }]);
    const unscheduled = await t
      .db()
      .selectFrom('deliveries')
      .select('id')
      .where('scheduled_at', 'is', null)
      .execute();
    expect(unscheduled).toEqual([]);
  });

  it('publishes the work left behind when Lambda refuses the invocation (no grant)', async () => {
    // What Lambda answers when the role lacks lambda:InvokeFunction on the function (not a modelled error).
    const denied = Object.assign(new Error('User is not authorized to perform: lambda:InvokeFunction'), {
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
    });
    lambda.on(InvokeCommand).rejects(denied);
    const { handler } = await import('../../src/handlers/planner.js');
    const run = await handler({}, contextWith(30));
    expect(run.remaining).toBeGreaterThan(0);
    expect(run).toMatchObject({ continuation: null, leftBehind: run.remaining });
    expect(workLeftPublished()).toEqual([{ value: run.remaining, service: MetricService.planner }]);
  });

  it('does not go round again when a continuation made no progress (every schedule call fails)', async () => {
    scheduler
      .on(CreateScheduleCommand)
      .rejects(
        new ValidationException({ message: 'role not assumable', Message: 'role not assumable', ...meta }),
      );
    const { handler } = await import('../../src/handlers/planner.js');
    // The daily run plans (progress) but every schedule fails: it hands on once.
    const daily = await handler({}, contextWith(600));
    expect(daily).toMatchObject({ scheduled: 0, failed: daily.planned, leftBehind: 0 });
    expect(invokes()).toHaveLength(1);
    // The continuation plans nothing new and fails again: no further invocation, the work is left behind.
    stdout.length = 0;
    const again = await handler(payloadOf(invokes()[0] as { Payload?: Uint8Array }), contextWith(600));
    expect(again).toMatchObject({ planned: 0, scheduled: 0, failed: daily.planned, continuation: null });
    expect(again.leftBehind).toBe(daily.planned);
    expect(invokes()).toHaveLength(1);
    expect(workLeftPublished()).toEqual([{ value: daily.planned, service: MetricService.planner }]);
  });

  it('ends a chain at its limit and rejects a malformed resume token', async () => {
    const { handler } = await import('../../src/handlers/planner.js');
    const last = { continuation: { chainStartedAt: '2026-12-01T06:00:00.000Z', attempt: MAX_CONTINUATIONS } };
    const run = await handler(last, contextWith(30));
    expect(run).toMatchObject({ continuation: null, leftBehind: run.remaining });
    expect(invokes()).toEqual([]);
    await expect(handler({ continuation: { attempt: 'x' } }, contextWith(600))).rejects.toThrow();
  });
});
