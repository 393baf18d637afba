// Twilio webhooks the signature check refuses. One that claims to come from our own Twilio account (it carries
// X-Twilio-Signature and our AccountSid) and still fails after the auth token was read again is a webhook Twilio
// will not send again: an inbound text (perhaps an opt-out phrase Twilio does not handle itself) or a status
// callback is lost, and the cause is ours (PUBLIC_BASE_URL is not the URL Twilio calls, or the auth token was
// rotated in Twilio but not in the secret). It is counted, WebhookSignatureRefused{route}, which the
// webhook-signature-refused alarm reads, and logged at WARN with what to check. The public URL is scanned:
// a request without a signature, or from another account, is refused without counting or warning.
import type { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/adapters/credentials.js';
import { createWebhooksHandler } from '../../src/handlers/webhooks.js';
import { logger } from '../../src/logger.js';
import {
  InMemoryMetricsSink,
  METRICS_NAMESPACE,
  MetricService,
  PowertoolsMetricsSink,
} from '../../src/metrics.js';
import { captureStdout } from '../support/capture-stdout.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  inboundParams,
  newSid,
  PUBLIC_BASE_URL,
  RecordingScheduler,
  RecordingSms,
  signedForm,
  statusParams,
  testApp,
  testConfig,
} from '../support/webhook-doubles.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

const t = useTestDb();
const PHONE = '+12125550123';
/** What Twilio signs with once the operator rotated the token in its console (the secret still holds AUTH_TOKEN). */
const ROTATED_IN_TWILIO = 'rotated-in-twilio-0123456789abcd';
const OTHER_ACCOUNT = `AC${'f0'.repeat(16)}`;
/** The custom domain the Twilio console was pointed at, while PUBLIC_BASE_URL is still the API's own URL. */
const CUSTOM_DOMAIN = 'https://sms.custom-domain.example';

const written = captureStdout({ stderr: true });
beforeEach(() => logger.setLogLevel('INFO'));
afterEach(() => logger.setLogLevel('SILENT'));

type LogLine = Record<string, unknown> & { level: string; message: string };
const logLines = (): LogLine[] =>
  written
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.startsWith('{') && !line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as LogLine);
const warnings = () => logLines().filter((l) => l.level === 'WARN');
const refusedCounts = (metrics: InMemoryMetricsSink) =>
  metrics.recorded.filter((m) => m.name === 'WebhookSignatureRefused');

let metrics: InMemoryMetricsSink;
let app: Hono;
beforeEach(() => {
  metrics = new InMemoryMetricsSink();
  app = testApp({ db: t.db(), metrics });
});

function post(
  path: '/twilio/inbound' | '/twilio/status',
  params: Record<string, string>,
  options: Parameters<typeof signedForm>[2] & { origin?: string } = {},
) {
  const { body, headers } = signedForm(path, params, options);
  return app.request(`${options.origin ?? PUBLIC_BASE_URL}${path}`, { method: 'POST', body, headers });
}

describe('a refused webhook from our Twilio account is counted and logged with what to check', () => {
  it('an inbound text signed with an auth token the secret does not hold: WebhookSignatureRefused{route=/twilio/inbound}', async () => {
    // Prepare: a subscriber asks us to stop in words Twilio's Advanced Opt-Out does not recognise.
    const params = inboundParams(PHONE, 'please stop texting me');

    // Act
    const res = await post('/twilio/inbound', params, { token: ROTATED_IN_TWILIO });

    // Assess: refused, counted once under its route, and the operator is told to check the auth token.
    expect(res.status).toBe(403);
    expect(metrics.totals()).toEqual({ 'WebhookSignatureRefused{route=/twilio/inbound}': 1 });
    expect(warnings()).toEqual([
      expect.objectContaining({
        route: '/twilio/inbound',
        cause: 'auth_token',
        publicBaseUrl: PUBLIC_BASE_URL,
        check: expect.stringMatching(/TWILIO_AUTH_TOKEN.*secret/),
      }),
    ]);
    const printed = written.join('');
    for (const secretOrPersonal of ['5550123', ROTATED_IN_TWILIO, AUTH_TOKEN, 'stop texting'])
      expect(printed).not.toContain(secretOrPersonal);
  });

  it('a status callback signed for the URL Twilio was given (a custom domain), not PUBLIC_BASE_URL: route=/twilio/status, the URL named', async () => {
    const res = await post('/twilio/status', statusParams(newSid(), 'delivered', { To: PHONE }), {
      baseUrl: CUSTOM_DOMAIN,
      origin: CUSTOM_DOMAIN,
    });

    expect(res.status).toBe(403);
    expect(metrics.totals()).toEqual({ 'WebhookSignatureRefused{route=/twilio/status}': 1 });
    expect(warnings()).toEqual([
      expect.objectContaining({
        route: '/twilio/status',
        cause: 'public_base_url',
        publicBaseUrl: PUBLIC_BASE_URL,
        calledUrl: `${CUSTOM_DOMAIN}/twilio/status`,
        check: expect.stringContaining('PUBLIC_BASE_URL'),
      }),
    ]);
  });

  it('counts only the final refusal: a mismatch the re-read secret resolves is not counted, one it does not is counted once', async () => {
    // Prepare: the secret already holds the rotated token; this container still caches the old one.
    let refreshes = 0;
    let held = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN };
    const credentials: Credentials<typeof held> = {
      get: async () => held,
      refresh: async () => {
        refreshes += 1;
        if (held.authToken === ROTATED_IN_TWILIO) return false;
        held = { ...held, authToken: ROTATED_IN_TWILIO };
        return true;
      },
    };
    const config = testConfig();
    app = testApp({
      db: t.db(),
      metrics,
      config: { ...config, credentials: { ...config.credentials, twilio: credentials } },
    });

    // Act: Twilio signs with the rotated token (accepted after one re-read), then someone with the old one.
    const accepted = await post('/twilio/inbound', inboundParams(PHONE, 'hello'), {
      token: ROTATED_IN_TWILIO,
    });
    const refused = await post('/twilio/inbound', inboundParams(PHONE, 'hello'), { token: AUTH_TOKEN });

    // Assess
    expect([accepted.status, refused.status]).toEqual([200, 403]);
    expect(refreshes).toBe(2);
    expect(refusedCounts(metrics)).toEqual([
      { name: 'WebhookSignatureRefused', value: 1, dimensions: { route: '/twilio/inbound' } },
    ]);
    expect(warnings()).toHaveLength(1);
  });
});

describe('internet noise is refused without counting it or warning', () => {
  const withoutAccountSid = () => {
    const { AccountSid: _dropped, ...rest } = inboundParams(PHONE, 'STOP');
    return rest;
  };
  it.each([
    ['no X-Twilio-Signature', () => inboundParams(PHONE, 'STOP'), { signature: null }, 'unsigned'],
    [
      "another account's AccountSid",
      () => inboundParams(PHONE, 'STOP', { AccountSid: OTHER_ACCOUNT }),
      { token: ROTATED_IN_TWILIO },
      'other_account',
    ],
    ['no AccountSid', withoutAccountSid, { signature: 'Zm9yZ2Vk' }, 'other_account'],
  ] as const)('%s → 403, not counted, an INFO line', async (_label, params, options, reason) => {
    const res = await post('/twilio/inbound', params(), options);

    expect(res.status).toBe(403);
    expect(refusedCounts(metrics)).toEqual([]);
    expect(warnings()).toEqual([]);
    expect(logLines()).toEqual([
      expect.objectContaining({ level: 'INFO', route: '/twilio/inbound', reason }),
    ]);
  });
});

describe('one-machine mode without TWILIO_ACCOUNT_SID: the account is unknown', () => {
  it('counts and warns about any signed request that fails; an unsigned one still only at INFO', async () => {
    const config = testConfig();
    const local = {
      ...config,
      credentials: { twilio: { get: async () => ({ authToken: AUTH_TOKEN }), refresh: async () => false } },
    };
    app = testApp({ db: t.db(), metrics, config: local });

    // Twilio calls the tunnel's URL; PUBLIC_BASE_URL was left at its default.
    const tunnel = 'https://abc123.tunnel.example';
    const refused = await post(
      '/twilio/inbound',
      inboundParams(PHONE, 'hello', { AccountSid: OTHER_ACCOUNT }),
      {
        baseUrl: tunnel,
        origin: 'http://abc123.tunnel.example',
      },
    );
    const scan = await post('/twilio/inbound', inboundParams(PHONE, 'hello'), { signature: null });

    expect([refused.status, scan.status]).toEqual([403, 403]);
    expect(metrics.totals()).toEqual({ 'WebhookSignatureRefused{route=/twilio/inbound}': 1 });
    expect(warnings()).toEqual([
      expect.objectContaining({
        route: '/twilio/inbound',
        cause: 'public_base_url',
        calledUrl: `${tunnel}/twilio/inbound`,
      }),
    ]);
  });
});

describe('the deployed webhooks handler', () => {
  const env = () => ({
    DATABASE_URL: t.url(),
    PUBLIC_BASE_URL,
    ...WEBHOOKS_ENV,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    API_TOKEN: 'test-api-token-0123456789abcdefghij',
  });
  type Emf = Record<string, unknown> & {
    _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  };
  const emf = (): Emf[] =>
    written
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Emf);

  it('prints WebhookSignatureRefused{service=webhooks, route} as EMF for a refusal from our account, nothing for a scan', async () => {
    const handler = createWebhooksHandler(
      () => ({ sms: new RecordingSms(), scheduler: new RecordingScheduler() }),
      env(),
      new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
    );
    const event = (options: Parameters<typeof signedForm>[2]) =>
      httpApiEvent('POST', '/twilio/status', {
        ...signedForm('/twilio/status', statusParams(newSid(), 'delivered'), options),
        base64: true,
      });

    expect(await handler(event({ token: ROTATED_IN_TWILIO }), lambdaContext)).toMatchObject({
      statusCode: 403,
    });

    const docs = emf();
    expect(docs).toHaveLength(1);
    expect(docs[0]?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: METRICS_NAMESPACE,
        Dimensions: [['service', 'route']],
        Metrics: [{ Name: 'WebhookSignatureRefused', Unit: 'Count' }],
      },
    ]);
    expect(docs[0]).toMatchObject({
      service: 'webhooks',
      route: '/twilio/status',
      WebhookSignatureRefused: 1,
    });

    written.length = 0;
    expect(await handler(event({ signature: null }), lambdaContext)).toMatchObject({ statusCode: 403 });
    expect(emf()).toEqual([]);
  });
});
