// The deployed handler exports, built as in AWS (settings from env, the shared limiter on the Postgres
// pool, Twilio and EventBridge Scheduler adapters), not with test doubles.
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DeleteScheduleCommand,
  InternalServerException,
  SchedulerClient,
  ThrottlingException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { WEBHOOK_DB_BUDGET } from '../../src/domain/call-budgets.js';
import { SendEvent } from '../../src/handlers/sender.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import { inboundParams, signedForm, subscriberWithScheduledDelivery } from '../support/webhook-doubles.js';
import { SENDER_FUNCTION_ARN, WEBHOOKS_ENV } from '../support/webhooks-env.js';

const t = useTestDb();
const saved = { ...process.env };
const lambda = mockClient(LambdaClient);
const scheduler = mockClient(SchedulerClient);
const PHONE = '+12125550123';

describe('deployed Lambda handlers', () => {
  beforeAll(() => {
    Object.assign(process.env, {
      PUBLIC_BASE_URL: 'https://sms.example.com',
      TWILIO_ACCOUNT_SID: `AC${'b2'.repeat(16)}`,
      TWILIO_AUTH_TOKEN: 'test-auth-token-0123456789abcdef',
      TWILIO_FROM_NUMBER: '+14155550100',
      OPENAI_API_KEY: 'sk-test-0123456789abcdefghijklmnop',
      API_TOKEN: 'test-api-token-0123456789abcdefghij',
      ...WEBHOOKS_ENV,
      RATE_LIMIT_STORE: 'postgres',
    });
  });
  afterAll(() => {
    process.env = saved;
  });
  beforeEach(() => {
    lambda.reset();
    scheduler.reset();
  });

  it('webhooks: builds from the environment and serves health and a signed HELP', async () => {
    process.env.DATABASE_URL = t.url();
    // rate_limits is not emptied between tests (the worker's earlier files may have left counters).
    await sql`DELETE FROM rate_limits WHERE key LIKE 'dps:%'`.execute(t.db());
    const { handler } = await import('../../src/handlers/webhooks.js');
    expect(await handler(httpApiEvent('GET', '/health'), lambdaContext)).toMatchObject({ statusCode: 200 });
    const { body, headers } = signedForm('/twilio/inbound', inboundParams('+12125550123', 'HELP'));
    const reply = await handler(httpApiEvent('POST', '/twilio/inbound', { body, headers }), lambdaContext);
    expect(reply).toMatchObject({ statusCode: 200 });
    const inbound = await t.db().selectFrom('inbound_messages').select('classification').execute();
    expect(inbound).toEqual([{ classification: 'help' }]);
    // The limiter really is the shared Postgres store: an API call's `api` budget leaves a counter row.
    // (Inbound texts are limited inside their SQL function, not through the limiter: docs/rate-limits.md.)
    const usage = await handler(
      httpApiEvent('GET', '/api/usage', { headers: { authorization: `Bearer ${process.env.API_TOKEN}` } }),
      lambdaContext,
    );
    expect(usage).toMatchObject({ statusCode: 200 });
    const counters = await sql<{ key: string }>`SELECT key FROM rate_limits WHERE key LIKE 'dps:%'`.execute(
      t.db(),
    );
    expect(counters.rows.map((c) => c.key)).toEqual([expect.stringMatching(/^dps:api:/)]);
  });

  it('webhooks: a test send invokes the sender Lambda asynchronously with the event its schedules send', async () => {
    // Prepare: an active subscriber; Lambda queues the invocation (202), as for InvocationType Event.
    process.env.DATABASE_URL = t.url();
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    await t
      .db()
      .insertInto('subscribers')
      .values({ phone: '+12125550123', time_zone: 'America/New_York', status: 'active' })
      .execute();
    const { handler } = await import('../../src/handlers/webhooks.js');

    // Act: POST /api/subscribers/{phone}/send-now with the API token.
    const res = (await handler(
      httpApiEvent('POST', '/api/subscribers/%2B12125550123/send-now', {
        headers: { authorization: `Bearer ${process.env.API_TOKEN}` },
      }),
      lambdaContext,
    )) as { statusCode: number; body: string };

    // Assess: 202 with today's delivery due now, and one Event invocation of the sender for exactly it.
    expect(res.statusCode).toBe(202);
    const view = JSON.parse(res.body) as { deliveryId: string; delivery: { state: string } };
    expect(view.delivery.state).toBe('planned');
    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({ FunctionName: SENDER_FUNCTION_ARN, InvocationType: 'Event' });
    const event = JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array));
    expect(SendEvent.parse(event)).toEqual({ deliveryId: view.deliveryId });
  });

  it('webhooks: a test send starts even when its planned schedule cannot be deleted (it would fire harmlessly)', async () => {
    // Prepare: today's delivery is planned and scheduled; DeleteSchedule fails (a 5xx from Scheduler).
    process.env.DATABASE_URL = t.url();
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    scheduler.on(DeleteScheduleCommand).rejects(
      new InternalServerException({
        message: 'Unexpected error',
        Message: 'Unexpected error',
        $metadata: {},
      }),
    );
    const deliveryId = await subscriberWithScheduledDelivery(t.db(), PHONE);
    const { handler } = await import('../../src/handlers/webhooks.js');

    // Act
    const res = (await handler(
      httpApiEvent('POST', `/api/subscribers/${encodeURIComponent(PHONE)}/send-now`, {
        headers: { authorization: `Bearer ${process.env.API_TOKEN}` },
      }),
      lambdaContext,
    )) as { statusCode: number; body: string };

    // Assess: the delete was tried; the send was handed to the sender all the same (the old schedule, if it
    // fires, finds the delivery claimed or sent and does nothing).
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input.Name)).toEqual([
      `delivery-${deliveryId}`,
    ]);
    expect(res.statusCode).toBe(202);
    const invoked = lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input.Payload);
    expect(invoked.map((p) => JSON.parse(new TextDecoder().decode(p as Uint8Array)))).toEqual([
      { deliveryId },
    ]);
  });

  it('webhooks: a STOP is answered in time when deleting its planned schedule is throttled', async () => {
    // Prepare: Scheduler throttles every DeleteSchedule, and the back-off's jitter is at its longest.
    process.env.DATABASE_URL = t.url();
    scheduler
      .on(DeleteScheduleCommand)
      .rejects(
        new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', $metadata: {} }),
      );
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const deliveryId = await subscriberWithScheduledDelivery(t.db(), PHONE);
    // A cold start of its own, so its adapters are built while the jitter is pinned.
    vi.resetModules();
    const { handler } = await import('../../src/handlers/webhooks.js');
    const stop = signedForm('/twilio/inbound', inboundParams(PHONE, 'STOP'));

    // Act
    const started = Date.now();
    const res = await handler(httpApiEvent('POST', '/twilio/inbound', stop), lambdaContext);
    const tookMs = Date.now() - started;
    vi.restoreAllMocks();

    // Assess: opted out and answered within what Twilio's 15 s wait leaves after the worst-case database
    // work (a request answered later is lost, and Twilio does not retry an inbound text). The schedule
    // left behind is harmless: the delivery is cancelled, so the sender sends nothing.
    expect(res).toMatchObject({ statusCode: 200 });
    const afterDatabaseMs =
      WEBHOOK_DB_BUDGET.twilioWaitMs -
      (WEBHOOK_DB_BUDGET.retryMs + 2 * WEBHOOK_DB_BUDGET.connectMs + WEBHOOK_DB_BUDGET.queryMs);
    expect(tookMs).toBeLessThan(afterDatabaseMs);
    expect(scheduler.commandCalls(DeleteScheduleCommand).length).toBeGreaterThan(0);
    const after = await t
      .db()
      .selectFrom('deliveries')
      .select('state')
      .where('id', '=', deliveryId)
      .execute();
    expect(after).toEqual([{ state: 'cancelled' }]);
  });

  it('sender: rejects a malformed event without throwing and answers not_found for an unknown id', async () => {
    process.env.DATABASE_URL = t.url();
    const { handler } = await import('../../src/handlers/sender.js');
    expect(await handler({ nope: true })).toMatchObject({ outcome: 'rejected' });
    expect(await handler({ deliveryId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({
      outcome: 'not_found',
    });
  });
});
