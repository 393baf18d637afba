// Alarms, dashboard, budget and the daily housekeeping Lambdas, asserted on the synthesized template.
import { readFileSync } from 'node:fs';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EGRESS_FAILED_PROBES, PLANNER_SILENCE_HOURS } from '../../lib/constructs/monitoring.js';
import { SCHEDULED_JOBS } from '../../lib/constructs/scheduled-jobs.js';
import { EGRESS_PROBE_MINUTES, STACK_INVENTORY } from '../../src/domain/capacity.js';
import { METRICS_NAMESPACE } from '../../src/metrics.js';
import { alarmInputs, alarmStates, type Datapoints } from './alarm-simulator.js';
import { DEV_SETTINGS, logicalId, PROD_CONTEXT, resources, synthesize } from './support.js';

let template: Template;
let topicRef: { Ref: string };

beforeAll(() => {
  template = synthesize().template();
  topicRef = { Ref: logicalId(template, 'AWS::SNS::Topic', 'MonitoringAlarms') };
});

const fnArn = (prefix: string) => ({
  'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', prefix), 'Arn'],
});
const fnRef = (prefix: string) => ({ Ref: logicalId(template, 'AWS::Lambda::Function', prefix) });

function alarm(name: string): Record<string, unknown> {
  const found = Object.values(resources(template, 'AWS::CloudWatch::Alarm')).filter(
    (a) => a.Properties?.AlarmName === `daily-positivity-${DEV_SETTINGS.stage}-${name}`,
  );
  expect(found, name).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

describe('alarm topic', () => {
  it('emails alertEmail and refuses publishers without TLS', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: DEV_SETTINGS.alertEmail,
      TopicArn: topicRef,
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topicRef],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'budgets.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });

  it('lets CloudWatch publish, but only this account’s alarms of this stage (a topic policy replaces the default)', () => {
    const [policy] = Object.values(resources(template, 'AWS::SNS::TopicPolicy'));
    const document = policy?.Properties?.PolicyDocument as { Statement: Array<Record<string, unknown>> };
    const statements = document.Statement;
    const cloudwatch = statements.filter(
      (s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }),
    );
    expect(cloudwatch).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sns:Publish',
        Resource: topicRef,
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: {
            'aws:SourceArn': {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':cloudwatch:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  `:alarm:daily-positivity-${DEV_SETTINGS.stage}-*`,
                ],
              ],
            },
          },
        },
      }),
    ]);
    // Every alarm's name falls under that ARN pattern, so each one may publish.
    for (const a of Object.values(resources(template, 'AWS::CloudWatch::Alarm')))
      expect(String(a.Properties?.AlarmName)).toMatch(new RegExp(`^daily-positivity-${DEV_SETTINGS.stage}-`));
  });

  it('sends every alarm to the topic and nowhere else', () => {
    const all = Object.values(resources(template, 'AWS::CloudWatch::Alarm'));
    expect(all).toHaveLength(STACK_INVENTORY.alarms); // the monthly cost estimate counts them
    for (const a of all) {
      const name = String(a.Properties?.AlarmName);
      expect(a.Properties?.AlarmActions, name).toEqual([topicRef]);
      // The design pages on breach only; an OK or no-data action, if one is added, goes to the topic too.
      for (const other of ['OKActions', 'InsufficientDataActions'])
        for (const action of [a.Properties?.[other] ?? []].flat())
          expect(action, `${name} ${other}`).toEqual(topicRef);
    }
  });

  it('has the alarms and dashboards the cost estimate counts in every stage shape, not only dev', () => {
    const shapes = {
      prod: PROD_CONTEXT,
      'nat-gateway + RDS Proxy': { ...PROD_CONTEXT, egress: 'nat-gateway', rdsProxy: true },
    };
    for (const [shape, context] of Object.entries(shapes)) {
      const other = synthesize({ context }).template();
      expect(Object.keys(resources(other, 'AWS::CloudWatch::Alarm')), shape).toHaveLength(
        STACK_INVENTORY.alarms,
      );
      expect(Object.keys(resources(other, 'AWS::CloudWatch::Dashboard')), shape).toHaveLength(
        STACK_INVENTORY.dashboards,
      );
    }
    template.resourceCountIs('AWS::CloudWatch::Dashboard', STACK_INVENTORY.dashboards);
  });
});

type AlarmProps = Record<string, unknown>;
const alarmsOf = (t: Template): AlarmProps[] =>
  Object.values(resources(t, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties ?? {});
const nameOf = (a: AlarmProps) => String(a.AlarmName).replace(`daily-positivity-${DEV_SETTINGS.stage}-`, '');
/** How long a breach must last before the alarm fires, in seconds. */
const breachSeconds = (a: AlarmProps) =>
  Number(a.Period) * Number(a.DatapointsToAlarm ?? a.EvaluationPeriods ?? Number.NaN);
const dimensionValues = (a: AlarmProps) =>
  ((a.Dimensions ?? []) as { Value: unknown }[]).map((d) => JSON.stringify(d.Value));

describe('alarms', () => {
  it('pages within 5 minutes on any error of every Lambda that does the service’s work', () => {
    // Every app Lambda (it reads the database) except migrations: a failed migration fails the deploy.
    const migrate = logicalId(template, 'AWS::Lambda::Function', 'MigrationsMigrate');
    const appFunctions = Object.entries(resources(template, 'AWS::Lambda::Function'))
      .filter(
        ([id, fn]) =>
          id !== migrate && JSON.stringify(fn.Properties?.Environment ?? {}).includes('DB_SECRET_ARN'),
      )
      .map(([id]) => id);
    expect(appFunctions.length).toBeGreaterThanOrEqual(6);
    const errorAlarms = alarmsOf(template).filter(
      (a) => a.Namespace === 'AWS/Lambda' && a.MetricName === 'Errors',
    );
    for (const id of appFunctions) {
      const watching = errorAlarms.filter((a) => dimensionValues(a).includes(JSON.stringify({ Ref: id })));
      expect(watching, id).toHaveLength(1);
      expect(watching[0], id).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(breachSeconds(watching[0] ?? {}), id).toBeLessThanOrEqual(300);
    }
  });

  it('treats silence as the failure where a missing datapoint means a job did not run', () => {
    const silent = alarmsOf(template).filter((a) => a.TreatMissingData === 'breaching');
    expect(silent.map(nameOf).sort()).toEqual([
      'database-storage-low',
      'egress-unreachable',
      'planner-did-not-run',
    ]);
    // The planner runs daily: a day plus an hour of slack without one invocation pages.
    expect(alarm('planner-did-not-run')).toMatchObject({
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef('PlannerFunction') }],
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
    });
    expect(breachSeconds(alarm('planner-did-not-run'))).toBe(PLANNER_SILENCE_HOURS * 3600);
    expect(PLANNER_SILENCE_HOURS).toBeGreaterThan(24);
    // A dead NAT (the egress probe failing or not running) pages within the hour.
    expect(alarm('egress-unreachable')).toMatchObject({
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef('EgressProbeFunction') }],
    });
    expect(breachSeconds(alarm('egress-unreachable'))).toBe(EGRESS_FAILED_PROBES * EGRESS_PROBE_MINUTES * 60);
    expect(breachSeconds(alarm('egress-unreachable'))).toBeLessThanOrEqual(3600);
  });

  it('watches every place a delivery can be lost or stuck: the DLQ, the API, the database, planner work left', () => {
    const watched = (name: string) => ({
      metric: `${alarm(name).Namespace}/${alarm(name).MetricName}`,
      resource: dimensionValues(alarm(name)),
    });
    const ref = (type: string, prefix: string) => JSON.stringify({ Ref: logicalId(template, type, prefix) });
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'SchedulingDeadLetterQueue');
    expect(watched('dlq-not-empty')).toEqual({
      metric: 'AWS/SQS/ApproximateNumberOfMessagesVisible',
      resource: [JSON.stringify({ 'Fn::GetAtt': [dlq, 'QueueName'] })],
    });
    expect(watched('api-5xx')).toEqual({
      metric: 'AWS/ApiGateway/5xx',
      resource: [ref('AWS::ApiGatewayV2::Api', 'WebhooksApi')],
    });
    expect(watched('database-storage-low')).toEqual({
      metric: 'AWS/RDS/FreeStorageSpace',
      resource: [ref('AWS::RDS::DBInstance', 'DatabasePostgres')],
    });
    expect(watched('planner-work-left')).toEqual({
      metric: `${METRICS_NAMESPACE}/PlannerWorkLeft`,
      resource: [JSON.stringify('planner')],
    });
    // One message, one 5xx or one unplanned delivery is enough to page.
    for (const name of ['dlq-not-empty', 'api-5xx', 'planner-work-left'])
      expect(alarm(name), name).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
  });

  it('measures the delivery failure rate as failed + undelivered over sent, from the metrics the Lambdas publish', () => {
    type Query = {
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Value: string }[] } };
    };
    const queries = alarm('delivery-failure-rate').Metrics as Query[];
    const returned = queries.filter((q) => q.ReturnData !== false);
    expect(returned).toHaveLength(1);
    expect(returned[0]?.Expression).toMatch(/^IF\(FILL\(sent, 0\) > 0, 100 \* \w+ \/ FILL\(sent, 0\)/);
    const inputs = queries
      .flatMap((q) => (q.MetricStat ? [q.MetricStat.Metric] : []))
      .map((m) => `${m.Namespace}/${m.MetricName}{${m.Dimensions.map((d) => d.Value).join()}}`);
    expect(inputs.sort()).toEqual(
      [
        `${METRICS_NAMESPACE}/MessagesSent{sender}`,
        `${METRICS_NAMESPACE}/MessagesFailed{sender}`,
        `${METRICS_NAMESPACE}/MessagesFailed{webhooks}`,
        `${METRICS_NAMESPACE}/MessagesUndelivered{webhooks}`,
      ].sort(),
    );
    expect(alarm('delivery-failure-rate').ComparisonOperator).toBe('GreaterThanThreshold');
  });

  it.each<[string, Datapoints, string]>([
    [
      '3 of 100 failed',
      { 'MessagesSent{service=sender}': [100], 'MessagesFailed{service=webhooks}': [3] },
      'OK',
    ],
    [
      '4 failed at Twilio and 3 undelivered of 100',
      {
        'MessagesSent{service=sender}': [100],
        'MessagesFailed{service=sender}': [4],
        'MessagesUndelivered{service=webhooks}': [3],
      },
      'ALARM',
    ],
    [
      'failures with no sends (callbacks of earlier ones)',
      { 'MessagesFailed{service=webhooks}': [1] },
      'ALARM',
    ],
    ['nothing sent, nothing failed', { 'MessagesSent{service=sender}': [undefined] }, 'OK'],
  ])('rates delivery failures in a window where %s: %s', (_name, window, state) => {
    // The dev stage's 5%, as the alarm's own expression computes it (test/infra/alarm-simulator.ts).
    expect(alarmStates(alarm('delivery-failure-rate'), window)).toEqual([state]);
  });

  it('pages when Twilio’s own webhooks are refused (either route, the first one in 15 minutes) and says what to check', () => {
    // Prepare
    type Query = {
      Id: string;
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: {
        Period: number;
        Stat: string;
        Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] };
      };
    };
    const refused = alarm('webhook-signature-refused');
    const queries = refused.Metrics as Query[];

    // Assess: the sum of both routes' WebhookSignatureRefused, as the webhooks Lambda prints it.
    const inputs = queries.filter((q) => q.MetricStat);
    expect(
      inputs
        .map((q) => {
          const m = q.MetricStat?.Metric;
          const dims = Object.fromEntries((m?.Dimensions ?? []).map((d) => [d.Name, d.Value]));
          return `${m?.Namespace}/${m?.MetricName}{service=${dims.service},route=${dims.route}} ${q.MetricStat?.Stat}/${q.MetricStat?.Period}`;
        })
        .sort(),
    ).toEqual([
      `${METRICS_NAMESPACE}/WebhookSignatureRefused{service=webhooks,route=/twilio/inbound} Sum/900`,
      `${METRICS_NAMESPACE}/WebhookSignatureRefused{service=webhooks,route=/twilio/status} Sum/900`,
    ]);
    const returned = queries.filter((q) => q.ReturnData !== false);
    expect(returned).toHaveLength(1);
    for (const input of inputs) expect(returned[0]?.Expression).toContain(`FILL(${input.Id}, 0)`);
    // One lost webhook in 15 minutes is enough: scans are not counted, so nothing benign reaches the metric.
    expect(refused).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
    });
    // The email names what to compare: the URL Twilio calls against PUBLIC_BASE_URL, and the token.
    const description = String(refused.AlarmDescription);
    for (const words of [
      'PUBLIC_BASE_URL',
      'Twilio console',
      'TwilioInboundWebhookUrl',
      'TWILIO_AUTH_TOKEN',
      'Twilio secret',
      'twilio webhook refused',
    ])
      expect(description, words).toContain(words);
  });

  it('is each a row of the alarm table in docs/observability.md, which says what it watches and when it fires', () => {
    const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('| alarm ')).split('\n\n')[0] ?? '';
    const documented = new Set(
      table
        .split('\n')
        .slice(2)
        .flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1])),
    );
    expect(
      alarmsOf(template)
        .map(nameOf)
        .filter((name) => !documented.has(name)),
    ).toEqual([]);
  });

  it('takes every threshold that depends on the stage from its settings, and no other', () => {
    const fromSettings = {
      'daily-cost-cap': (s: typeof DEV_SETTINGS) => s.dailyCostLimitUsd,
      'delivery-failure-rate': (s: typeof DEV_SETTINGS) => s.deliveryFailureRatePercent,
      'database-storage-low': (s: typeof DEV_SETTINGS) =>
        (s.databaseFreeStorageAlarmGib as number) * 1024 ** 3,
      // Not in config/dev.json: the documented default (DEPLOYMENT.md, section 2).
      'status-callbacks-silent': (s: typeof DEV_SETTINGS) => s.statusCallbacksSilentSendsPerHour ?? 10,
    };
    const altered = {
      dailyCostLimitUsd: 2.5,
      deliveryFailureRatePercent: 12,
      databaseFreeStorageAlarmGib: 5,
      statusCallbacksSilentSendsPerHour: 25,
    };
    const other = synthesize({ context: altered }).template();
    const thresholds = (t: Template) => Object.fromEntries(alarmsOf(t).map((a) => [nameOf(a), a.Threshold]));
    const [before, after] = [thresholds(template), thresholds(other)];

    for (const [name, setting] of Object.entries(fromSettings)) {
      expect(before[name], `${name} in dev`).toBe(setting(DEV_SETTINGS));
      expect(after[name], `${name} with altered settings`).toBe(setting({ ...DEV_SETTINGS, ...altered }));
    }
    const fixed = Object.keys(before).filter((name) => !(name in fromSettings));
    expect(fixed.length).toBeGreaterThan(0);
    for (const name of fixed) expect(after[name], name).toBe(before[name]);
  });

  it('gives the sender the same daily cost cap the alarm pages on', () => {
    expect(alarm('daily-cost-cap')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: 'EstimatedCostUSD',
      Dimensions: [{ Name: 'service', Value: 'sender' }],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(breachSeconds(alarm('daily-cost-cap'))).toBe(86_400);
    // The same figure reaches every app Lambda as DAILY_COST_LIMIT_USD (the sender's cost_cap check).
    const appFunctions = Object.values(resources(template, 'AWS::Lambda::Function'))
      .map(
        (fn) =>
          (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables,
      )
      .filter((vars) => vars?.DB_SECRET_ARN);
    expect(appFunctions).toHaveLength(7);
    for (const vars of appFunctions)
      expect(vars?.DAILY_COST_LIMIT_USD).toBe(String(alarm('daily-cost-cap').Threshold));
  });
});

describe('a silent status-callback stream', () => {
  // Hours of metrics, oldest first, keyed as the Lambdas publish them (test/integration/metrics-contract.test.ts
  // proves they do); a metric left out published nothing in those hours.
  const SENT = 'MessagesSent{service=sender}';
  const DELIVERED = 'MessagesDelivered{service=webhooks}';
  const UNDELIVERED = 'MessagesUndelivered{service=webhooks}';
  const FAILED = 'MessagesFailed{service=webhooks}';
  const silent = () => alarm('status-callbacks-silent');
  const _ = undefined;

  it('counts the sender’s sends against the final statuses the webhooks record, per hour', () => {
    // Prepare
    type Query = { MetricStat?: { Period: number; Stat: string } };
    const queries = silent().Metrics as Query[];

    // Assess: reconciliation's late statuses (service=reconcile) are not evidence that callbacks arrive.
    expect(alarmInputs(silent()).sort()).toEqual([DELIVERED, FAILED, SENT, UNDELIVERED].sort());
    for (const q of queries.filter((q) => q.MetricStat))
      expect(q.MetricStat).toMatchObject({ Period: 3600, Stat: 'Sum' });
    expect(silent()).toMatchObject({
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
    });
  });

  type Hours = (n: number) => Datapoints;
  it.each<[string, string, Hours]>([
    [
      'messages go out and no final status comes back',
      'OK ALARM ALARM ALARM',
      (n) => ({ [SENT]: [n, n, n, n] }),
    ],
    [
      'callbacks stop after working hours',
      'OK OK OK ALARM ALARM',
      (n) => ({ [SENT]: [n, n, n, n, n], [DELIVERED]: [n, n, _, _, _] }),
    ],
    [
      'an hour in between sends fewer than the threshold, and no status comes back either',
      'OK OK ALARM',
      (n) => ({ [SENT]: [n, n - 1, n] }),
    ],
    [
      'statuses come back, delivered or not',
      'OK OK OK OK',
      (n) => ({
        [SENT]: [n, n, n, n],
        [DELIVERED]: [n - 1, n, _, _],
        [UNDELIVERED]: [1, _, _, 1],
        [FAILED]: [_, _, n, _],
      }),
    ],
    ['a quiet night: nothing sent, nothing back', 'OK OK OK OK', () => ({ [SENT]: [_, _, _, _] })],
    [
      'sending ends and the last statuses arrive in the hours after',
      'OK OK OK OK OK',
      (n) => ({ [SENT]: [n, n, _, _, _], [DELIVERED]: [n - 2, n, 2, _, _] }),
    ],
    [
      'callback lag: the day’s first sends fall in the last minutes of an hour, their statuses in the next',
      'OK OK OK OK',
      (n) => ({ [SENT]: [_, n, n, n], [DELIVERED]: [_, _, 2 * n, n] }),
    ],
    [
      'fewer sends an hour than the threshold, none answered',
      'OK OK OK OK',
      (n) => ({ [SENT]: [n - 1, n - 1, n - 1, n - 1] }),
    ],
    [
      'one hour without statuses between working ones',
      'OK OK OK OK',
      (n) => ({ [SENT]: [n, n, n, n], [DELIVERED]: [n, _, 2 * n, n] }),
    ],
  ])('%s → %s', (_name, states, hours) => {
    // Prepare: n is the stage's threshold (statusCallbacksSilentSendsPerHour).
    const n = Number(silent().Threshold);
    expect(n).toBeGreaterThan(1);

    // Act
    const simulated = alarmStates(silent(), hours(n));

    // Assess
    expect(simulated.join(' ')).toBe(states);
  });

  it('says in its email what silence means and where to look', () => {
    const description = String(silent().AlarmDescription);
    for (const words of [
      'StatusCallback',
      'TwilioStatusCallbackUrl',
      'PUBLIC_BASE_URL',
      '4xx',
      'status.twilio.com',
      'docs/observability.md',
    ])
      expect(description, words).toContain(words);
  });
});

describe('dashboard', () => {
  it('shows the alarms and the key business, Lambda, API, queue and database metrics', () => {
    const dashboards = Object.values(resources(template, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]?.Properties?.DashboardName).toBe(`daily-positivity-${DEV_SETTINGS.stage}`);
    const body = JSON.stringify(dashboards[0]?.Properties?.DashboardBody);
    for (const metric of [
      'DeliveriesPlanned',
      'MessagesSent',
      'MessagesDelivered',
      'MessagesUndelivered',
      'MessagesFailed',
      'FallbackMessages',
      'EstimatedCostUSD',
      'OpenAIRequests',
      'OpenAITokens',
      'OptOuts',
      'OptIns',
      'DeliveriesSkipped',
      'RateLimitHits',
      'DatabaseSizeBytes',
      'DeliveriesReconciled',
      'WebhookSignatureRefused',
      'FreeStorageSpace',
      'ApproximateNumberOfMessagesVisible',
      '5xx',
      'Errors',
    ]) {
      expect(body, metric).toContain(metric);
    }
    expect(body).toContain('"type\\":\\"alarm\\"');
    // The alarm-status widget names every alarm (by ARN, a token in the body).
    for (const id of Object.keys(resources(template, 'AWS::CloudWatch::Alarm')))
      expect(body, id).toContain(JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }));
    expect(body).toContain(METRICS_NAMESPACE);
  });
});

describe('monthly budget', () => {
  it('is the only budget and notifies the alarm topic at 80% actual and 100% forecast', () => {
    template.resourceCountIs('AWS::Budgets::Budget', 1);
    const subscribers = [{ SubscriptionType: 'SNS', Address: topicRef }];
    template.hasResourceProperties('AWS::Budgets::Budget', {
      Budget: {
        BudgetType: 'COST',
        TimeUnit: 'MONTHLY',
        BudgetLimit: { Amount: DEV_SETTINGS.monthlyBudgetUsd, Unit: 'USD' },
      },
      NotificationsWithSubscribers: [
        {
          Notification: Match.objectLike({
            NotificationType: 'ACTUAL',
            Threshold: 80,
            ThresholdType: 'PERCENTAGE',
          }),
          Subscribers: subscribers,
        },
        {
          Notification: Match.objectLike({
            NotificationType: 'FORECASTED',
            Threshold: 100,
            ThresholdType: 'PERCENTAGE',
          }),
          Subscribers: subscribers,
        },
      ],
    });
    // Created after the topic policy that lets AWS Budgets publish.
    const [budget] = Object.values(resources(template, 'AWS::Budgets::Budget'));
    expect(budget?.DependsOn).toContain(logicalId(template, 'AWS::SNS::TopicPolicy', 'MonitoringAlarms'));
  });
});

describe('daily housekeeping Lambdas', () => {
  it.each(SCHEDULED_JOBS.map((j) => [j.name, j] as const))('runs %s from its own daily rule', (name, job) => {
    const prefix =
      name === 'daily-report'
        ? 'JobsDailyReportFunction'
        : `Jobs${name[0]?.toUpperCase()}${name.slice(1)}Function`;
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: job.cron,
      State: 'ENABLED',
      Targets: [
        Match.objectLike({ Arn: fnArn(prefix), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }) }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: fnArn(prefix),
      Principal: 'events.amazonaws.com',
    });
    const fn = resources(template, 'AWS::Lambda::Function')[
      logicalId(template, 'AWS::Lambda::Function', prefix)
    ];
    expect(fn?.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Timeout: job.timeout.toSeconds(),
      Environment: {
        Variables: expect.objectContaining({
          POWERTOOLS_SERVICE_NAME: `daily-positivity-${name}`,
          RETENTION_DAYS: String(DEV_SETTINGS.retentionDays),
          DB_SECRET_ARN: {
            Ref: logicalId(template, 'AWS::SecretsManager::SecretTargetAttachment', 'DatabasePostgres'),
          },
        }),
      },
    });
    expect(fn?.Properties?.VpcConfig).toBeDefined();
    // Migrations run before the new code of these Lambdas too.
    expect(fn?.DependsOn).toContain(Object.keys(resources(template, 'Custom::Trigger'))[0]);
  });

  it('gives reconcile read access to the Twilio secret', () => {
    const roleId = logicalId(template, 'AWS::IAM::Role', 'JobsReconcileFunctionServiceRole');
    const policies = Object.values(resources(template, 'AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties?.Roles).includes(`"${roleId}"`),
    );
    expect(JSON.stringify(policies)).toContain(
      logicalId(template, 'AWS::SecretsManager::Secret', 'SecretsTwilio'),
    );
    expect(JSON.stringify(policies)).toContain('secretsmanager:GetSecretValue');
  });
});
