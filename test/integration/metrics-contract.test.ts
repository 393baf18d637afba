// The observability contract, from the outside: every business metric an alarm or a dashboard widget of the
// synthesized stack reads (namespace, metric name, and the exact dimension set with its values) is one the
// deployed Lambda entry points print as EMF when their code paths run. CloudWatch creates one metric per
// dimension set an EMF line declares, so an alarm on a set nobody emits stays silent for ever and a widget
// stays empty. Real Postgres; the handlers' own modules built from the environment as in AWS; the AWS SDK
// clients mocked at their `send`, OpenAI and Twilio at HTTP (msw).

import { readFileSync } from 'node:fs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METRICS_NAMESPACE } from '../../src/metrics.js';
import { resources, synthesize } from '../infra/support.js';
import { useTestDb } from '../support/db.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import {
  chatCompletion,
  moderationHandler,
  OPENAI_API_KEY,
  openAiError,
  openAiHandler,
  TWILIO_ACCOUNT_SID,
  TWILIO_AUTH_TOKEN,
  twilioError,
  twilioHandler,
} from '../support/sender-doubles.js';
import {
  inboundParams,
  newSid,
  seedSubscriber,
  signedForm,
  statusParams,
} from '../support/webhook-doubles.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

// ── What the stack watches ────────────────────────────────────────────────────────────────────────────

interface Watched {
  /** The alarm or widget that reads it. */
  by: string;
  namespace: string;
  name: string;
  /** Exact dimensions (a metric or MetricStat), or only their names (a SEARCH over every value). */
  dimensions: Record<string, string> | string[];
}

type Dimension = { Name: string; Value: unknown };
const dimensionMap = (dimensions: Dimension[] = []) =>
  Object.fromEntries(dimensions.map((d) => [d.Name, String(d.Value)]));

/** `SEARCH('{Namespace,dim1,dim2} MetricName="X"', …)` → the metric it can find. */
function searched(by: string, expression: string): Watched[] {
  const found = /SEARCH\('\{([^}]*)\}\s+MetricName="([^"]+)"/.exec(expression);
  if (!found) return [];
  const [namespace = '', ...keys] = (found[1] ?? '').split(',').map((k) => k.trim());
  return [{ by, namespace, name: found[2] ?? '', dimensions: keys }];
}

function watchedBy(template: ReturnType<ReturnType<typeof synthesize>['template']>): Watched[] {
  const out: Watched[] = [];
  for (const alarm of Object.values(resources(template, 'AWS::CloudWatch::Alarm'))) {
    const p = alarm.Properties ?? {};
    const by = `alarm ${String(p.AlarmName)}`;
    if (p.MetricName) {
      out.push({
        by,
        namespace: String(p.Namespace),
        name: String(p.MetricName),
        dimensions: dimensionMap(p.Dimensions as Dimension[]),
      });
    }
    type Query = {
      Expression?: string;
      MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Dimension[] } };
    };
    for (const q of (p.Metrics ?? []) as Query[]) {
      if (q.MetricStat) {
        const m = q.MetricStat.Metric;
        out.push({ by, namespace: m.Namespace, name: m.MetricName, dimensions: dimensionMap(m.Dimensions) });
      }
      if (q.Expression) out.push(...searched(by, q.Expression));
    }
  }
  for (const dashboard of Object.values(resources(template, 'AWS::CloudWatch::Dashboard'))) {
    // The body is a Fn::Join of JSON text and tokens (ARNs, Refs): tokens only ever stand for AWS/* values.
    const joined = dashboard.Properties?.DashboardBody as { 'Fn::Join': [string, unknown[]] };
    const parts = joined['Fn::Join'][1];
    const body = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('')) as {
      widgets: { properties: { title?: string; metrics?: unknown[][] } }[];
    };
    for (const widget of body.widgets) {
      const by = `widget "${widget.properties.title}"`;
      for (const line of widget.properties.metrics ?? []) {
        const [first, second, ...rest] = line;
        if (typeof first === 'string') {
          const dimensions: Record<string, string> = {};
          for (let i = 0; i + 1 < rest.length && typeof rest[i] === 'string'; i += 2)
            dimensions[String(rest[i])] = String(rest[i + 1]);
          out.push({ by, namespace: first, name: String(second), dimensions });
        } else {
          const expression = (first as { expression?: string } | undefined)?.expression;
          if (expression) out.push(...searched(by, expression));
        }
      }
    }
  }
  // AWS/* metrics are published by AWS itself (test/infra/monitoring.test.ts checks what they point at).
  return out.filter((w) => w.namespace === METRICS_NAMESPACE);
}

const { template: synthesized } = synthesize();
const stack = synthesized();
const WATCHED = watchedBy(stack);

// ── What the Lambdas print ────────────────────────────────────────────────────────────────────────────

interface Emitted {
  namespace: string;
  name: string;
  unit: string;
  dimensions: Record<string, string>;
}

function emittedIn(lines: string[]): Emitted[] {
  const out: Emitted[] = [];
  for (const line of lines.flatMap((chunk) => chunk.split('\n'))) {
    if (!line.includes('"_aws"')) continue;
    const doc = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: {
          Namespace: string;
          Dimensions: string[][];
          Metrics: { Name: string; Unit: string }[];
        }[];
      };
    };
    for (const directive of doc._aws.CloudWatchMetrics)
      for (const set of directive.Dimensions)
        for (const metric of directive.Metrics)
          out.push({
            namespace: directive.Namespace,
            name: metric.Name,
            unit: metric.Unit,
            dimensions: Object.fromEntries(set.map((k) => [k, String(doc[k])])),
          });
  }
  return out;
}

const sameKeys = (a: string[], b: string[]) =>
  JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
function reads(w: Watched, e: Emitted): boolean {
  if (w.namespace !== e.namespace || w.name !== e.name) return false;
  if (Array.isArray(w.dimensions)) return sameKeys(w.dimensions, Object.keys(e.dimensions));
  const wanted = w.dimensions;
  return (
    sameKeys(Object.keys(wanted), Object.keys(e.dimensions)) &&
    Object.entries(wanted).every(([k, v]) => e.dimensions[k] === v)
  );
}
const label = (e: Emitted) =>
  `${e.name}{${Object.entries(e.dimensions)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}}`;

// ── Driving the deployed entry points ─────────────────────────────────────────────────────────────────

const t = useTestDb();
const saved = { ...process.env };
const lambda = mockClient(LambdaClient);
const scheduler = mockClient(SchedulerClient);
const web = setupServer();
const HOUR = 3_600_000;
const API_TOKEN = 'test-api-token-0123456789abcdefghij';
const TWILIO_API = `https://api.twilio.com/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}`;

/** A subscriber and a delivery whose window is open now (the sender reads the real clock). */
async function dueNow(phone: string, options: { paused?: boolean } = {}): Promise<string> {
  const s = await t
    .db()
    .insertInto('subscribers')
    .values({ phone, time_zone: 'America/New_York', status: 'active', paused: options.paused ?? false })
    .returning('id')
    .executeTakeFirstOrThrow();
  const now = Date.now();
  const d = await t
    .db()
    .insertInto('deliveries')
    .values({
      subscriber_id: s.id,
      local_date: new Date(now).toISOString().slice(0, 10),
      time_zone: 'America/New_York',
      window_start: new Date(now - HOUR),
      window_end: new Date(now + 3 * HOUR),
      planned_at: new Date(now - 60_000),
      state: 'planned',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return d.id;
}

type Entry = (event: unknown, context?: unknown) => Promise<unknown>;
/** The deployed entry points (what the stack bundles), each built from the environment on its first call. */
const ENTRIES = {
  planner: () => import('../../src/handlers/planner.js'),
  sender: () => import('../../src/handlers/sender.js'),
  webhooks: () => import('../../src/handlers/webhooks.js'),
  cleanup: () => import('../../src/handlers/cleanup.js'),
  reconcile: () => import('../../src/handlers/reconcile.js'),
};
const entry = async (name: keyof typeof ENTRIES): Promise<Entry> => (await ENTRIES[name]()).handler as Entry;

async function planner() {
  for (const [i, zone] of ['America/New_York', 'Asia/Kolkata', 'Europe/London'].entries())
    await t
      .db()
      .insertInto('subscribers')
      .values({ phone: `+1415555010${i}`, time_zone: zone })
      .execute();
  await (await entry('planner'))({}, { getRemainingTimeInMillis: () => 600_000 });
}

async function sender() {
  const send = await entry('sender');
  const chat = [() => chatCompletion('A quiet cup of tea can be a whole small holiday today.')];
  const twilio = (reply?: (form: URLSearchParams) => Response) =>
    twilioHandler([], reply ? [reply] : undefined);
  // Sent, written by the model: MessagesSent, OpenAIRequests, OpenAITokens, EstimatedCostUSD.
  web.use(openAiHandler([], chat), moderationHandler(), twilio());
  await send({ deliveryId: await dueNow('+12125550101') });
  // Sent, the model out of quota: FallbackMessages.
  web.resetHandlers(openAiHandler([], [() => openAiError(429, 'insufficient_quota')]), twilio());
  await send({ deliveryId: await dueNow('+12125550102') });
  // Refused by Twilio: MessagesFailed. The recipient opted out with the carrier (21610): OptOuts.
  web.resetHandlers(
    openAiHandler([], chat),
    moderationHandler(),
    twilio(() => twilioError(400, 21211, "The 'To' number is not a valid phone number.")),
  );
  await send({ deliveryId: await dueNow('+12125550103') });
  web.resetHandlers(
    openAiHandler([], chat),
    moderationHandler(),
    twilio(() => twilioError(400, 21610, 'Attempt to send to unsubscribed recipient')),
  );
  await send({ deliveryId: await dueNow('+12125550104') });
  // Skipped (paused): DeliveriesSkipped{reason}.
  await send({ deliveryId: await dueNow('+12125550105', { paused: true }) });
  web.resetHandlers();
}

async function webhooks() {
  const hook = await entry('webhooks');
  const post = (path: string, params: Record<string, string>) =>
    hook(httpApiEvent('POST', path, signedForm(path, params)), lambdaContext);
  // Inbound: STOP then START (OptOuts, OptIns); a third text in the minute from one number, over
  // RATE_LIMIT_INBOUND_PER_MIN (RateLimitHits{budget}).
  await seedSubscriber(t.db(), { phone: '+12125550201' });
  await post('/twilio/inbound', inboundParams('+12125550201', 'STOP'));
  await post('/twilio/inbound', inboundParams('+12125550201', 'START'));
  for (const text of ['hello', 'hello again', 'and again'])
    await post('/twilio/inbound', inboundParams('+12125550202', text));
  // Final statuses of sent deliveries: MessagesDelivered, MessagesUndelivered, MessagesFailed.
  for (const [i, status] of ['delivered', 'undelivered', 'failed'].entries()) {
    const sid = newSid();
    const phone = `+1212555030${i}`;
    await seedSubscriber(t.db(), { phone }, { state: 'sent', messageSid: sid, localDate: '2026-11-24' });
    await post('/twilio/status', statusParams(sid, status, { To: phone }));
  }
  // Our account's webhooks refused by the signature check (the auth token rotated in Twilio only):
  // WebhookSignatureRefused{route} for each route.
  const rotated = 'rotated-in-twilio-0123456789abcd';
  for (const [path, params] of [
    ['/twilio/inbound', inboundParams('+12125550203', 'please stop texting me')],
    ['/twilio/status', statusParams(newSid(), 'delivered')],
  ] as const) {
    const form = signedForm(path, { ...params, AccountSid: TWILIO_ACCOUNT_SID }, { token: rotated });
    await hook(httpApiEvent('POST', path, form), lambdaContext);
  }
  // A callback kept while the database was down, applied when SQS delivers it back.
  const sid = newSid();
  await seedSubscriber(t.db(), { phone: '+12125550310' }, { state: 'sent', messageSid: sid });
  const kept = {
    type: 'status',
    messageSid: sid,
    status: 'undelivered',
    errorCode: 30003,
    recipientOptedOut: false,
    to: '+12125550310',
    receivedAt: new Date().toISOString(),
  };
  await hook(
    { Records: [{ messageId: 'm1', body: JSON.stringify(kept), eventSource: 'aws:sqs' }] },
    lambdaContext,
  );
}

async function dailyJobs() {
  await (await entry('cleanup'))({}, { getRemainingTimeInMillis: () => 600_000 });
  // Reconciliation: a delivery sent two days ago whose final status never came; Twilio says delivered.
  const sid = newSid();
  const { delivery } = await seedSubscriber(
    t.db(),
    { phone: '+12125550401' },
    { state: 'sent', messageSid: sid },
  );
  await t
    .db()
    .updateTable('deliveries')
    .set({ claimed_at: new Date(Date.now() - 2 * 24 * HOUR) })
    .where('id', '=', delivery?.id ?? '')
    .execute();
  web.use(
    http.get(`${TWILIO_API}/Messages/:sid.json`, ({ params }) =>
      HttpResponse.json({
        account_sid: TWILIO_ACCOUNT_SID,
        api_version: '2010-04-01',
        body: 'You are doing better than you think.',
        date_created: new Date(Date.now() - 2 * 24 * HOUR).toUTCString(),
        date_sent: new Date(Date.now() - 2 * 24 * HOUR).toUTCString(),
        date_updated: new Date(Date.now() - 2 * 24 * HOUR).toUTCString(),
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: '+14155550100',
        messaging_service_sid: null,
        num_media: '0',
        num_segments: '1',
        price: null,
        price_unit: 'USD',
        sid: params.sid,
        status: 'delivered',
        subresource_uris: {},
        to: '+12125550401',
        uri: `/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages/${params.sid}.json`,
      }),
    ),
  );
  await (await entry('reconcile'))({}, { getRemainingTimeInMillis: () => 300_000 });
  web.resetHandlers();
}

/**
 * Runs every scenario once, in the first test that asks (the worker's database exists only inside tests),
 * and returns what was printed as EMF.
 */
async function publishAll(): Promise<Emitted[]> {
  Object.assign(process.env, {
    DATABASE_URL: t.url(),
    PUBLIC_BASE_URL: 'https://sms.example.com',
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM_NUMBER: '+14155550100',
    OPENAI_API_KEY,
    API_TOKEN,
    ...WEBHOOKS_ENV,
    SCHEDULER_ROLE_ARN: 'arn:aws:iam::111122223333:role/scheduler-invoke',
    SCHEDULER_DLQ_ARN: 'arn:aws:sqs:us-east-1:111122223333:scheduling-dlq',
    RATE_LIMIT_STORE: 'postgres',
    RATE_LIMIT_INBOUND_PER_MIN: '2',
  });
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn:aws:scheduler:::schedule/x' });
  scheduler.on(DeleteScheduleCommand).resolves({});
  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => {
    printed.push(String(chunk));
    return true;
  }) as never);
  try {
    await planner();
    await sender();
    await webhooks();
    await dailyJobs();
  } finally {
    stdout.mockRestore();
  }
  return emittedIn(printed);
}
let publishing: Promise<Emitted[]> | undefined;
const published = () => {
  publishing ??= publishAll();
  return publishing;
};

beforeAll(() => web.listen({ onUnhandledRequest: 'error' }));
afterAll(() => {
  web.close();
  lambda.restore();
  scheduler.restore();
  process.env = saved;
});

describe('every business metric the stack watches is one the Lambdas publish', () => {
  it('watches some, and the Lambdas published some', { timeout: 120_000 }, async () => {
    expect(WATCHED.length).toBeGreaterThan(10);
    expect((await published()).length).toBeGreaterThan(10);
  });

  it.each(
    WATCHED.map((w) => [
      `${w.by} reads ${w.name}${Array.isArray(w.dimensions) ? `{${w.dimensions.join(',')}: any}` : JSON.stringify(w.dimensions)}`,
      w,
    ]),
  )('%s', async (_, w) => {
    const emitted = await published();
    const found = emitted.some((e) => reads(w as Watched, e));
    expect(found, `published: ${[...new Set(emitted.map(label))].sort().join(' ')}`).toBe(true);
  });

  it('alarms on them use standard-resolution periods and no unit the EMF does not carry', async () => {
    const emitted = await published();
    for (const alarm of Object.values(resources(stack, 'AWS::CloudWatch::Alarm'))) {
      const p = alarm.Properties ?? {};
      type Stat = { Period: number; Unit?: string; Metric: { Namespace: string; MetricName: string } };
      const stats: Stat[] = [
        ...(p.Namespace === METRICS_NAMESPACE
          ? [
              {
                Period: Number(p.Period),
                Unit: p.Unit as string | undefined,
                Metric: { Namespace: String(p.Namespace), MetricName: String(p.MetricName) },
              },
            ]
          : []),
        ...(
          (p.Metrics ?? []) as { MetricStat?: { Period: number; Unit?: string; Metric: Stat['Metric'] } }[]
        ).flatMap((q) => (q.MetricStat?.Metric.Namespace === METRICS_NAMESPACE ? [q.MetricStat] : [])),
      ];
      for (const s of stats) {
        // Powertools publishes at 60-second resolution unless told otherwise (it is not here).
        expect(s.Period % 60, `${p.AlarmName}`).toBe(0);
        const units = new Set(emitted.filter((e) => e.name === s.Metric.MetricName).map((e) => e.unit));
        if (s.Unit !== undefined) expect([...units], `${p.AlarmName}`).toEqual([s.Unit]);
      }
    }
  });

  it('every metric a Lambda publishes is named for its service in docs/observability.md', async () => {
    // "Who publishes what": one row per Lambda (`service` dimension), the metric names in backticks.
    const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('| Lambda (`service` dimension)')).split('\n\n')[0] ?? '';
    const named = new Map<string, Set<string>>();
    for (const row of table.split('\n').slice(2)) {
      const [services = '', metrics = ''] = row.split('|').slice(1, 3);
      const names = new Set([...metrics.matchAll(/`(\w+)/g)].map((m) => m[1] as string));
      for (const service of services.split('/')) named.set(service.trim(), names);
    }
    expect(named.size).toBeGreaterThan(3);
    const unnamed = (await published()).filter((e) => !named.get(e.dimensions.service ?? '')?.has(e.name));
    expect([...new Set(unnamed.map(label))]).toEqual([]);
  });
});
