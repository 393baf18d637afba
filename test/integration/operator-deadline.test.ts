// The operator API in the webhooks Lambda as deployed (createWebhooksHandler, real Postgres) when the
// invocation is running out of time: a request stops starting statements and outside calls it could not
// finish before the Lambda's timeout, rolls back, and answers a clear 503 with Retry-After — never API
// Gateway's bare 503 with the work half done (a subscriber opted out with their schedules left, an opt-in
// text sent for a row rolled back). docs/resilience.md, "Outside calls".
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { DateTime } from 'luxon';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LAMBDA_TIMEOUT_MS, marginMs } from '../../src/domain/call-budgets.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, webhooksInvocation } from '../support/lambda-events.js';
import { startPgFaultProxy } from '../support/pg-fault-proxy.js';
import { redirectingFetch, timed } from '../support/silent-servers.js';
import { SILENT_API_TOKEN, silentWebhooksHandler, useSilentAws } from '../support/silent-webhooks.js';
import { subscriberWithScheduledDelivery } from '../support/webhook-doubles.js';
import { SENDER_FUNCTION_ARN } from '../support/webhooks-env.js';

const t = useTestDb();
const PHONE = '+12125550123';
const API_TOKEN = SILENT_API_TOKEN;
const silent = useSilentAws();

afterEach(() => {
  vi.unstubAllGlobals();
});

const webhooksHandler = (databaseUrl = t.url()) => silentWebhooksHandler(silent(), databaseUrl);

type Answer = { statusCode: number; body: string; headers?: Record<string, string> };

const api = (method: string, path: string, body?: unknown) =>
  httpApiEvent(method, path, {
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** A warm Lambda: its pool holds an open connection, as after any earlier request. */
async function warmHandler(databaseUrl?: string) {
  const handler = webhooksHandler(databaseUrl);
  const warm = (await handler(api('GET', '/api/subscribers'), webhooksInvocation(19_500))) as Answer;
  expect(warm.statusCode).toBe(200);
  return handler;
}

describe('the operator API when the invocation runs out of time', () => {
  it('sends no opt-in text it could not finish in time, saves nothing, and says so with a 503', async () => {
    // Prepare: Twilio would hang; the invocation has 13 s left — not enough for the text's worst case
    // (7 s), the COMMIT after it and the margin.
    vi.stubGlobal('fetch', redirectingFetch('api.twilio.com', silent().url));
    const handler = await warmHandler();
    const accepted = silent().accepted;
    const remaining = 13_000;

    // Act
    const { ms, value } = await timed(
      () =>
        handler(
          api('POST', '/api/subscribers', { phone: PHONE }),
          webhooksInvocation(remaining),
        ) as Promise<Answer>,
    );

    // Assess: a clear, retryable answer in time; Twilio never asked; no row, no consent event.
    expect(value?.statusCode).toBe(503);
    expect(value?.headers?.['retry-after']).toBeDefined();
    expect(JSON.parse(value?.body ?? '{}')).toMatchObject({ code: 'unavailable' });
    expect(JSON.parse(value?.body ?? '{}').error).toMatch(/nothing was saved/);
    expect(ms).toBeLessThan(remaining - marginMs(LAMBDA_TIMEOUT_MS.webhooks));
    expect(silent().accepted).toBe(accepted);
    expect(await t.db().selectFrom('subscribers').selectAll().execute()).toEqual([]);
    expect(await t.db().selectFrom('consent_events').selectAll().execute()).toEqual([]);
  }, 30_000);

  it('rolls a removal back, schedules untouched, when a held row lock leaves too little time to finish it', async () => {
    // Prepare: an active subscriber with a planned delivery; another session holds their row for 1.5 s.
    const zone = 'America/New_York';
    const s = await t
      .db()
      .insertInto('subscribers')
      .values({ phone: PHONE, time_zone: zone, status: 'active', name: 'Ada' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const tomorrow = DateTime.now().setZone(zone).startOf('day').plus({ days: 1 });
    await t
      .db()
      .insertInto('deliveries')
      .values({
        subscriber_id: s.id,
        local_date: tomorrow.toISODate() as string,
        time_zone: zone,
        window_start: tomorrow.plus({ hours: 12 }).toJSDate(),
        window_end: tomorrow.plus({ hours: 17 }).toJSDate(),
        planned_at: tomorrow.plus({ hours: 15 }).toJSDate(),
        state: 'planned',
      })
      .execute();
    const scheduler = mockClient(SchedulerClient);
    scheduler.on(DeleteScheduleCommand).resolves({});
    const handler = await warmHandler();
    const holder = new pg.Client({ connectionString: t.url() });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM subscribers WHERE id = $1 FOR UPDATE', [s.id]);
      setTimeout(() => void holder.query('COMMIT'), 1_500);
      // 12 s left: the first statements may start, but after the lock wait the rest of the removal
      // (statements at their bound, COMMIT, the schedules) no longer fits before the timeout.
      const remaining = 12_000;

      // Act
      const { ms, value } = await timed(
        () =>
          handler(
            api('DELETE', `/api/subscribers/${encodeURIComponent(PHONE)}`),
            webhooksInvocation(remaining),
          ) as Promise<Answer>,
      );

      // Assess: 503 saying nothing changed; the subscriber and the delivery as they were; no schedule call.
      expect(value?.statusCode).toBe(503);
      expect(value?.headers?.['retry-after']).toBeDefined();
      expect(JSON.parse(value?.body ?? '{}').error).toMatch(/nothing was changed/);
      expect(ms).toBeLessThan(remaining - marginMs(LAMBDA_TIMEOUT_MS.webhooks));
      const after = await t
        .db()
        .selectFrom('subscribers')
        .select(['status', 'name'])
        .executeTakeFirstOrThrow();
      expect(after).toEqual({ status: 'active', name: 'Ada' });
      const deliveries = await t.db().selectFrom('deliveries').select('state').execute();
      expect(deliveries).toEqual([{ state: 'planned' }]);
      expect(scheduler.commandCalls(DeleteScheduleCommand)).toHaveLength(0);

      // And with the time, the same request removes them and their schedule.
      const done = (await handler(
        api('DELETE', `/api/subscribers/${encodeURIComponent(PHONE)}`),
        webhooksInvocation(19_500),
      )) as Answer;
      expect(done.statusCode).toBe(200);
      expect(scheduler.commandCalls(DeleteScheduleCommand)).toHaveLength(1);
    } finally {
      scheduler.restore();
      await holder.end();
    }
  }, 30_000);

  it('leaves today’s planned send as it was when a slow COMMIT leaves no time to hand a test send over', async () => {
    // Prepare: today's delivery planned and scheduled; Scheduler and Lambda answer at once; the database
    // acknowledges the next COMMIT 3.3 s late (a stalled WAL flush: within the client's 4 s bound).
    const deliveryId = await subscriberWithScheduledDelivery(t.db(), PHONE);
    const before = await t.db().selectFrom('deliveries').selectAll().executeTakeFirstOrThrow();
    const scheduler = mockClient(SchedulerClient);
    scheduler.on(DeleteScheduleCommand).resolves({});
    const lambda = mockClient(LambdaClient);
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    const proxy = await startPgFaultProxy(t.url());
    try {
      const handler = await warmHandler(proxy.url);
      void proxy.delayAnswerOf('commit', 3_300);
      // 11.7 s left: the deadline is 4.7 s away, enough to start every statement (4 s each) at once, but
      // once the COMMIT has taken 3.3 s the Invoke (2 s) no longer fits before it.
      const remaining = 11_700;
      const sendNow = api('POST', `/api/subscribers/${encodeURIComponent(PHONE)}/send-now`);

      // Act
      const { ms, value } = await timed(
        () => handler(sendNow, webhooksInvocation(remaining)) as Promise<Answer>,
      );

      // Assess: a clear 503 that says nothing was sent; nothing claimed, moved or unscheduled: the day's
      // message still goes at its planned time through the schedule it had.
      expect(value?.statusCode).toBe(503);
      expect(value?.headers?.['retry-after']).toBe('5');
      const answer = JSON.parse(value?.body ?? '{}');
      expect(answer).toMatchObject({ code: 'unavailable' });
      expect(ms).toBeLessThan(remaining - marginMs(LAMBDA_TIMEOUT_MS.webhooks));
      expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
      expect(scheduler.commandCalls(DeleteScheduleCommand)).toHaveLength(0);
      const after = await t.db().selectFrom('deliveries').selectAll().executeTakeFirstOrThrow();
      expect(after).toEqual(before);
      expect(answer.error).toMatch(/nothing was changed and nothing was sent/);

      // And with the time, the same request moves it to now and hands it to the sender, once.
      const retried = (await handler(sendNow, webhooksInvocation(19_500))) as Answer;
      expect(retried.statusCode).toBe(202);
      expect(JSON.parse(retried.body)).toMatchObject({ deliveryId });
      const invokes = lambda.commandCalls(InvokeCommand);
      expect(invokes).toHaveLength(1);
      expect(invokes[0]?.args[0].input).toMatchObject({
        FunctionName: SENDER_FUNCTION_ARN,
        InvocationType: 'Event',
      });
      const payload = JSON.parse(new TextDecoder().decode(invokes[0]?.args[0].input.Payload as Uint8Array));
      expect(payload).toEqual({ deliveryId });
      expect(scheduler.commandCalls(DeleteScheduleCommand)).toHaveLength(1);
      const moved = await t
        .db()
        .selectFrom('deliveries')
        .select(['state', 'planned_at'])
        .executeTakeFirstOrThrow();
      expect(moved.state).toBe('planned');
      expect(moved.planned_at?.getTime()).toBeGreaterThan(before.planned_at?.getTime() ?? 0);
    } finally {
      scheduler.restore();
      lambda.restore();
      await proxy.close();
    }
  }, 40_000);
});
