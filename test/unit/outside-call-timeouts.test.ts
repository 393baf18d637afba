// Every outside client a Lambda uses, built by the deployed wiring, gives up within its bound when the other
// end never answers (a hung service, a half-open connection) or never accepts (a blackholed address), and
// its caller reads the failure as it must: a schedule left behind is logged, not fatal; a keep that fails is
// reported (so the webhook is answered 503); a Twilio send that timed out is "outcome unknown", never
// retried. Real sockets and the production bounds (src/domain/call-budgets.ts); the deadline a caller
// passes itself (the writer's) is shortened.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixedCredentials } from '../../src/adapters/credentials.js';
import { createLambdaInvoker } from '../../src/adapters/lambda-invoker.js';
import { createRateLimiter } from '../../src/adapters/rate-limiter.js';
import { loadLambdaConfig } from '../../src/adapters/secrets.js';
import { TwilioStatusLookup } from '../../src/adapters/twilio-status-lookup.js';
import { loadConfig } from '../../src/config.js';
import { isDbUnavailable } from '../../src/db/connection.js';
import {
  AWS_CALLS,
  DB_BOUNDS,
  REDIS_CALLS,
  SECRETS_READ,
  TWILIO_CALLS,
} from '../../src/domain/call-budgets.js';
import type { E164 } from '../../src/domain/phone.js';
import { removeSchedules } from '../../src/services/opt-out.js';
import { noMetrics, type SendStarter, SmsOutcomeUnknown } from '../../src/services/ports.js';
import { plannerLambdaClient } from '../../src/wiring/continuation.js';
import { lambdaDatabase } from '../../src/wiring/database.js';
import { openAiWriter } from '../../src/wiring/openai.js';
import { eventBridgeScheduler } from '../../src/wiring/scheduler.js';
import { twilioSms } from '../../src/wiring/twilio.js';
import { deployedWebhookAdapters } from '../../src/wiring/webhooks.js';
import {
  awsEnvAt,
  redirectingFetch,
  type SilentServer,
  startSilentServer,
  startUnacceptingServer,
  timed,
} from '../support/silent-servers.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

/** Timers, the event loop and a busy 2-core machine, on top of a bound. */
const SLACK_MS = 750;
const saved = { ...process.env };
let silent: SilentServer;
let unaccepting: Awaited<ReturnType<typeof startUnacceptingServer>>;

const SECRETS = {
  DATABASE_URL: 'postgres://app@127.0.0.1:1/app',
  TWILIO_ACCOUNT_SID: `AC${'b2'.repeat(16)}`,
  TWILIO_AUTH_TOKEN: 'test-auth-token-0123456789abcdef',
  API_TOKEN: 'test-api-token-0123456789abcdefghij',
  OPENAI_API_KEY: 'sk-test-0123456789abcdefghijklmnop',
};
const DELIVERY = '3f0e5a52-8d7b-4d38-9a51-0b5d0a1c2e3f';

beforeAll(async () => {
  [silent, unaccepting] = await Promise.all([startSilentServer(), startUnacceptingServer()]);
  Object.assign(process.env, {
    ...awsEnvAt(silent.url),
    PUBLIC_BASE_URL: 'https://sms.example.com',
    TWILIO_FROM_NUMBER: '+14155550100',
    RATE_LIMIT_STORE: 'memory',
    // https: SQS sends to the queue URL's host (TLS to a server that never answers the handshake).
    WEBHOOK_SPOOL_QUEUE_URL: `https://127.0.0.1:${silent.port}/123456789012/daily-positivity-webhook-spool`,
    ...WEBHOOKS_ENV,
  });
  vi.stubGlobal('fetch', redirectingFetch('api.twilio.com', silent.url));
});

afterAll(async () => {
  vi.unstubAllGlobals();
  process.env = saved;
  await Promise.all([silent.close(), unaccepting.close()]);
});

/** Runs `call` and checks it reached `server` (not a DNS failure or a refusal that would end it at once). */
async function against<T>(server: { readonly accepted: number }, call: () => Promise<T>) {
  const before = server.accepted;
  const result = await timed(call);
  expect(server.accepted).toBeGreaterThan(before);
  return result;
}

/** The webhooks Lambda's adapters, as deployedWebhookAdapters builds them from its configuration. */
async function webhookAdapters() {
  const config = await loadLambdaConfig('webhooks', { ...process.env, ...SECRETS });
  return deployedWebhookAdapters(config, undefined as never, noMetrics);
}

describe.concurrent('the webhooks Lambda’s AWS calls, against an endpoint that never answers', () => {
  it('gives up deleting a schedule within its bound; removing an opt-out’s schedules logs it and goes on', async () => {
    const { scheduler } = await webhookAdapters();
    const cancel = await against(silent, () => scheduler.cancel(DELIVERY));
    expect(cancel.error).toBeInstanceOf(Error);
    expect((cancel.error as Error).name).not.toBe('ResourceNotFoundException');
    expect(cancel.ms).toBeLessThan(AWS_CALLS.scheduleCancel.totalMs + SLACK_MS);

    const removal = await timed(() => removeSchedules(scheduler, [DELIVERY]));
    expect(removal.error).toBeUndefined();
    expect(removal.ms).toBeLessThan(AWS_CALLS.scheduleCancel.totalMs + SLACK_MS);
  });

  it('gives up keeping a webhook in the spool within the time the webhook budget leaves for it', async () => {
    const { spool } = await webhookAdapters();
    const keep = await against(silent, async () =>
      spool?.keep({
        type: 'status',
        messageSid: `SM${'c'.repeat(32)}`,
        status: 'delivered',
        errorCode: null,
        recipientOptedOut: false,
        to: null,
        receivedAt: new Date().toISOString(),
      }),
    );
    expect(keep.error).toBeInstanceOf(Error);
    expect(keep.ms).toBeLessThan(AWS_CALLS.spoolKeep.totalMs + SLACK_MS);
  });

  it('gives up starting a test send within its bound', async () => {
    const { starter } = await webhookAdapters();
    const start = await against(silent, () =>
      (starter as SendStarter).start({ deliveryId: DELIVERY, windowEnd: new Date() }),
    );
    expect(start.error).toBeInstanceOf(Error);
    expect(start.ms).toBeLessThan(AWS_CALLS.sendStart.totalMs + SLACK_MS);
  });
});

describe.concurrent('reading secrets from a Secrets Manager that never answers', () => {
  it('fails the cold start within one read’s bound (the reads run in parallel), so the next invocation retries', async () => {
    const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;
    const env = {
      ...process.env,
      DB_SECRET_ARN: arn('db'),
      TWILIO_SECRET_ARN: arn('twilio'),
      API_SECRET_ARN: arn('api'),
    };
    const read = await against(silent, () => loadLambdaConfig('webhooks', env));
    expect(read.error).toBeInstanceOf(Error);
    expect(read.ms).toBeLessThan(SECRETS_READ.totalMs + SLACK_MS);
  });
});

describe.concurrent('the planner’s AWS calls, against an endpoint that never answers', () => {
  it('gives up one CreateSchedule within its bound (a timeout is not throttling: no retry of the adapter’s)', async () => {
    const scheduler = eventBridgeScheduler({
      SCHEDULER_GROUP_NAME: 'daily-positivity',
      SENDER_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:sender',
      SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/scheduler',
      SCHEDULER_DLQ_ARN: 'arn:aws:sqs:us-east-1:123456789012:scheduler-dlq',
    } as Parameters<typeof eventBridgeScheduler>[0]);
    const at = new Date(Date.now() + 3_600_000);
    const create = await against(silent, () =>
      scheduler.schedule({ deliveryId: DELIVERY, at, windowEnd: new Date(at.getTime() + 3_600_000) }),
    );
    expect(create.error).toBeInstanceOf(Error);
    expect(create.ms).toBeLessThan(AWS_CALLS.scheduleCreate.totalMs + SLACK_MS);
  });

  it('gives up starting its continuation within its bound', async () => {
    const invoker = createLambdaInvoker(
      plannerLambdaClient(),
      'arn:aws:lambda:us-east-1:123456789012:function:planner',
    );
    const start = await against(silent, () =>
      invoker.continueWith({ chainStartedAt: new Date().toISOString(), attempt: 1 }),
    );
    expect(start.error).toBeInstanceOf(Error);
    expect(start.ms).toBeLessThan(AWS_CALLS.plannerContinuation.totalMs + SLACK_MS);
  });
});

describe.concurrent('Twilio calls, against an API that never answers', () => {
  const credentials = fixedCredentials({
    accountSid: SECRETS.TWILIO_ACCOUNT_SID,
    authToken: SECRETS.TWILIO_AUTH_TOKEN,
  });
  const message = {
    to: '+12125550123' as E164,
    body: 'Hello',
    statusCallback: 'https://sms.example.com/twilio/status',
  };

  it('webhooks: a text (double opt-in, a reply from the spool) ends "outcome unknown" within one attempt', async () => {
    const { sms } = await webhookAdapters();
    const send = await against(silent, () => sms.send(message));
    expect(send.error).toBeInstanceOf(SmsOutcomeUnknown);
    expect(send.ms).toBeLessThan(TWILIO_CALLS.webhooksSend.attemptMs + SLACK_MS);
  });

  it('sender: the daily message ends "outcome unknown" within one attempt (never retried: it may have gone)', async () => {
    const sms = twilioSms({ TWILIO_FROM_NUMBER: '+14155550100' } as never, credentials);
    const send = await against(silent, () =>
      sms.send({ ...message, validUntil: new Date(Date.now() + 3_600_000) }),
    );
    expect(send.error).toBeInstanceOf(SmsOutcomeUnknown);
    expect(send.ms).toBeLessThan(TWILIO_CALLS.senderSend.attemptMs + SLACK_MS);
  });

  it('reconcile: a status read fails within one attempt (the next run asks again)', async () => {
    const lookup = new TwilioStatusLookup(credentials);
    const read = await against(silent, () => lookup.fetchStatus(`SM${'d'.repeat(32)}`));
    expect(read.error).toBeInstanceOf(Error);
    expect(read.ms).toBeLessThan(TWILIO_CALLS.reconcileRead.attemptMs + SLACK_MS);
  });
});

describe.concurrent('OpenAI, against an API that never answers', () => {
  it('the writer falls back to the curated library by its deadline', async () => {
    const config = loadConfig({
      ...process.env,
      OPENAI_BASE_URL: `${silent.url}/v1`,
      OPENAI_MODERATION: 'required',
    });
    const limiter = await createRateLimiter({ config });
    const writer = openAiWriter(config, fixedCredentials({ apiKey: SECRETS.OPENAI_API_KEY }), { limiter });
    const deadlineMs = 1_500;
    const write = await against(silent, () =>
      writer.write(
        { firstName: null, recent: [], localDate: '2026-12-01' },
        new Date(Date.now() + deadlineMs),
      ),
    );
    expect(write.value).toMatchObject({ fallback: true });
    expect(write.ms).toBeLessThan(deadlineMs + SLACK_MS);
  });
});

describe.concurrent('Redis for the rate limiter, never answering', () => {
  it('waits for it only briefly at a cold start, then limits through memory at once', async () => {
    const config = loadConfig({
      ...process.env,
      RATE_LIMIT_STORE: 'redis',
      REDIS_URL: `redis://127.0.0.1:${silent.port}`,
    });
    const built = await against(silent, () => createRateLimiter({ config }));
    expect(built.ms).toBeLessThan(REDIS_CALLS.readyMs + SLACK_MS);
    const limiter = built.value as Awaited<ReturnType<typeof createRateLimiter>>;
    try {
      const decision = await timed(() => limiter.consume('api', 'token'));
      expect(decision.value).toMatchObject({ allowed: true });
      expect(decision.ms).toBeLessThan(REDIS_CALLS.commandMs + SLACK_MS);
    } finally {
      await limiter.close();
    }
  });
});

describe.concurrent('Postgres, never answering', () => {
  it.each([
    ['never answers', () => silent.port],
    ['never accepts', () => unaccepting.port],
  ])(
    'a webhooks pool gives up connecting to a server that %s within its bound, as "unavailable"',
    async (_, port) => {
      const { pool } = await lambdaDatabase(
        {
          DATABASE_SSL: false,
          DATABASE_HOST: undefined,
          credentials: { db: fixedCredentials({ url: `postgres://app:pw@127.0.0.1:${port()}/app` }) },
        },
        'webhooks',
      );
      try {
        const query = await timed(() => pool.query('SELECT 1'));
        expect(isDbUnavailable(query.error)).toBe(true);
        expect(query.ms).toBeLessThan(DB_BOUNDS.webhooks.connectMs + SLACK_MS);
      } finally {
        await pool.end();
      }
    },
  );
});

// Not concurrent with the rest: it points the Scheduler client built during it elsewhere.
describe('the webhooks Lambda’s DeleteSchedule, against an endpoint that never accepts', () => {
  it('gives up deleting a schedule within its bound when the connection is never accepted', async () => {
    process.env.AWS_ENDPOINT_URL_SCHEDULER = unaccepting.url;
    try {
      const { scheduler } = await webhookAdapters();
      const cancel = await timed(() => scheduler.cancel(DELIVERY));
      expect(cancel.error).toBeInstanceOf(Error);
      expect(cancel.ms).toBeLessThan(AWS_CALLS.scheduleCancel.totalMs + SLACK_MS);
    } finally {
      delete process.env.AWS_ENDPOINT_URL_SCHEDULER;
    }
  });
});
