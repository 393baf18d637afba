// The webhooks Lambda as deployed (createWebhooksHandler with deployedWebhookAdapters, real Postgres) when an
// outside system hangs instead of failing: Twilio waits 15 s for an answer and does not retry an inbound
// text, so a hung call must end in time for the request to be answered as the resilience guarantee says —
// a STOP still confirmed, a webhook still kept (or answered 503 when even the spool hangs), a spooled
// webhook never started without the time to finish it. docs/resilience.md, "Outside calls".
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { createPool, isDbUnavailable } from '../../src/db/connection.js';
import {
  AWS_CALLS,
  marginMs,
  spooledWebhookWorstCaseMs,
  WEBHOOK_DB_BUDGET,
} from '../../src/domain/call-budgets.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import { redirectingFetch, startHangingProxy, timed } from '../support/silent-servers.js';
import { silentWebhooksHandler, useSilentAws } from '../support/silent-webhooks.js';
import { inboundParams, signedForm, subscriberWithScheduledDelivery } from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
/** What Twilio's 15 s leave once the margin is kept: an answer later than this may be lost. */
const ANSWER_BY_MS = WEBHOOK_DB_BUDGET.twilioWaitMs - marginMs(WEBHOOK_DB_BUDGET.twilioWaitMs);
// Every AWS call of the Lambda goes to a server that accepts and never answers.
const silent = useSilentAws();

/** The webhooks Lambda as deployed, a cold start of its own each time; every keyword ours to answer. */
const webhooksHandler = (databaseUrl: string) =>
  silentWebhooksHandler(silent(), databaseUrl, { TWILIO_ADVANCED_OPT_OUT: 'false' });

const inbound = (body: string) =>
  httpApiEvent('POST', '/twilio/inbound', signedForm('/twilio/inbound', inboundParams(PHONE, body)));

type Answer = { statusCode: number; body: string; headers?: Record<string, string> };

describe('the webhooks Lambda when an outside call hangs', () => {
  it('confirms a STOP in time when deleting its planned schedule hangs (the schedule left behind is harmless)', async () => {
    // Prepare: a planned, scheduled delivery; Scheduler accepts the connection and never answers.
    const deliveryId = await subscriberWithScheduledDelivery(t.db(), PHONE);
    const handler = webhooksHandler(t.url());
    const accepted = silent().accepted;

    // Act
    const { ms, value } = await timed(() => handler(inbound('STOP'), lambdaContext) as Promise<Answer>);

    // Assess: answered with the confirmation before Twilio stops waiting; opted out; the delete was tried.
    expect(value?.statusCode).toBe(200);
    expect(value?.body).toContain('<Message>');
    expect(ms).toBeLessThan(ANSWER_BY_MS);
    expect(ms).toBeLessThan(AWS_CALLS.scheduleCancel.totalMs + 3_000);
    expect(silent().accepted).toBeGreaterThan(accepted);
    const rows = await t.db().selectFrom('deliveries').select('state').where('id', '=', deliveryId).execute();
    expect(rows).toEqual([{ state: 'cancelled' }]);
    const subscriber = await t.db().selectFrom('subscribers').select('status').executeTakeFirstOrThrow();
    expect(subscriber.status).toBe('opted_out');
  }, 30_000);

  it('answers 503, never 500, in time when the database is down and keeping the webhook hangs too', async () => {
    // Prepare: nothing listens where the database should be; SQS never answers.
    const handler = webhooksHandler('postgres://app:pw@127.0.0.1:1/app');
    const accepted = silent().accepted;

    // Act
    const { ms, value } = await timed(() => handler(inbound('STOP'), lambdaContext) as Promise<Answer>);

    // Assess: the retries ran out, the keep was tried and gave up within its share of the budget.
    expect(value?.statusCode).toBe(503);
    expect(silent().accepted).toBeGreaterThan(accepted);
    expect(ms).toBeLessThan(ANSWER_BY_MS);
    expect(ms).toBeLessThan(
      WEBHOOK_DB_BUDGET.retryMs + WEBHOOK_DB_BUDGET.queryMs + AWS_CALLS.spoolKeep.totalMs + 1_000,
    );
  }, 30_000);

  it('keeps a webhook whose database connection hangs mid-statement', async () => {
    // Prepare: a pooled connection through a proxy that then stops passing anything either way (a
    // failover's vanished host); SQS takes the kept webhook.
    const proxy = await startHangingProxy(t.url());
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    try {
      const handler = webhooksHandler(proxy.url);
      const help = (await handler(inbound('HELP'), lambdaContext)) as Answer;
      expect(help.statusCode).toBe(200);
      proxy.hang();

      // Act
      const { ms, value } = await timed(() => handler(inbound('STOP'), lambdaContext) as Promise<Answer>);

      // Assess: 503 + Retry-After (kept), in time: the client gave up on the statement at its own bound,
      // since Postgres' statement_timeout cannot reach a connection that hangs.
      expect(value?.statusCode).toBe(503);
      expect(value?.headers?.['retry-after']).toBe('5');
      expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
      expect(ms).toBeLessThan(ANSWER_BY_MS);
    } finally {
      sqs.restore();
      await proxy.close();
    }
  }, 30_000);

  it('starts a spooled webhook only while the invocation has the time to finish it', async () => {
    // Prepare: a kept STOP delivered back by SQS, to an invocation with less time left than one takes.
    await t
      .db()
      .insertInto('subscribers')
      .values({ phone: PHONE, time_zone: 'America/New_York', status: 'active' })
      .execute();
    const kept = {
      type: 'inbound',
      messageSid: `SM${'e'.repeat(32)}`,
      from: PHONE,
      to: '+14155550100',
      body: 'STOP',
      optOutType: null,
      receivedAt: new Date().toISOString(),
    };
    const event = { Records: [{ messageId: 'q-1', body: JSON.stringify(kept), eventSource: 'aws:sqs' }] };
    // The STOP's confirmation goes out by SMS; here Twilio refuses the connection (a failed reply is logged).
    vi.stubGlobal('fetch', redirectingFetch('api.twilio.com', 'http://127.0.0.1:1'));
    const handler = webhooksHandler(t.url());
    const short = {
      awsRequestId: 'req-1',
      functionName: 'webhooks',
      getRemainingTimeInMillis: () => spooledWebhookWorstCaseMs() - 1,
    };

    // Act
    const result = await handler(event, short);

    // Assess: not started, handed back to the queue; applied by an invocation that has the time.
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'q-1' }] });
    expect(await t.db().selectFrom('inbound_messages').selectAll().execute()).toEqual([]);
    const enough = {
      awsRequestId: 'req-1',
      functionName: 'webhooks',
      getRemainingTimeInMillis: () => 19_500,
    };
    expect(await handler(event, enough)).toEqual({ batchItemFailures: [] });
    const subscriber = await t.db().selectFrom('subscribers').select('status').executeTakeFirstOrThrow();
    expect(subscriber.status).toBe('opted_out');
    vi.unstubAllGlobals();
  });

  it('drops a pooled connection whose statement went unanswered, instead of handing it out again', async () => {
    // Prepare: one connection through the proxy, then nothing passes.
    const proxy = await startHangingProxy(t.url());
    const pool = createPool({
      connectionString: proxy.url,
      max: 1,
      statementTimeoutMs: 5_000,
      queryTimeoutMs: 500,
    });
    try {
      const client = await pool.connect();
      await client.query('SELECT 1');
      proxy.hang();

      // Act: the statement as Kysely runs it: on a checked-out client, released without an error.
      const { ms, error } = await timed(() => client.query('SELECT 1'));
      client.release();

      // Assess: given up at the client's bound (the server's statement_timeout never comes), read as the
      // database being unavailable, and the connection gone from the pool.
      expect(isDbUnavailable(error)).toBe(true);
      expect(ms).toBeLessThan(500 + 750);
      await expect.poll(() => pool.totalCount, { timeout: 2_000 }).toBe(0);
    } finally {
      await pool.end();
      await proxy.close();
    }
  });
});
