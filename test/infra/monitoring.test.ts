// Alarms, dashboard, budget and the daily housekeeping Lambdas, asserted on the synthesized template.
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULED_JOBS } from '../../lib/constructs/scheduled-jobs.js';
import { EGRESS_PROBE_MINUTES, STACK_INVENTORY } from '../../src/domain/capacity.js';
import { METRICS_NAMESPACE } from '../../src/metrics.js';
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
    for (const a of all)
      expect(a.Properties?.AlarmActions, String(a.Properties?.AlarmName)).toEqual([topicRef]);
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

describe('alarms', () => {
  it.each([
    ['sender', 'SenderFunction'],
    ['webhooks', 'WebhooksFunction'],
    ['planner', 'PlannerFunction'],
    ['cleanup', 'JobsCleanupFunction'],
    ['reconcile', 'JobsReconcileFunction'],
    ['daily-report', 'JobsDailyReportFunction'],
  ])('pages on any %s Lambda error within 5 minutes', (label, fn) => {
    expect(alarm(`${label}-errors`)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef(fn) }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('pages when the planner was not invoked for 25 hours (silence breaches)', () => {
    expect(alarm('planner-did-not-run')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef('PlannerFunction') }],
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 25,
      DatapointsToAlarm: 25,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it('pages when the egress probe failed (or did not run) three times in a row: a dead NAT within the hour', () => {
    expect(alarm('egress-unreachable')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef('EgressProbeFunction') }],
      Statistic: 'Sum',
      Period: EGRESS_PROBE_MINUTES * 60,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'breaching',
    });
    expect(3 * EGRESS_PROBE_MINUTES).toBeLessThanOrEqual(60);
  });

  it('pages when a planner run leaves work for the next daily run (PlannerWorkLeft ≥ 1)', () => {
    expect(alarm('planner-work-left')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: 'PlannerWorkLeft',
      Dimensions: [{ Name: 'service', Value: 'planner' }],
      Statistic: 'Maximum',
      Period: 3600,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('pages when the scheduling dead-letter queue holds a message', () => {
    expect(alarm('dlq-not-empty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: {
            'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'SchedulingDeadLetterQueue'), 'QueueName'],
          },
        },
      ],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('pages when failed + undelivered exceed the configured share of sends over 6 hours', () => {
    const props = alarm('delivery-failure-rate');
    expect(props).toMatchObject({
      Threshold: DEV_SETTINGS.deliveryFailureRatePercent,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    type Query = {
      Id: string;
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: {
        Metric: { Namespace: string; MetricName: string; Dimensions: unknown };
        Period: number;
        Stat: string;
      };
    };
    const queries = props.Metrics as Query[];
    const returned = queries.filter((q) => q.ReturnData !== false);
    expect(returned).toHaveLength(1);
    expect(returned[0]?.Expression).toMatch(/^IF\(FILL\(sent, 0\) > 0, 100 \* \w+ \/ FILL\(sent, 0\)/);
    const stats = queries
      .filter((q) => q.MetricStat)
      .map((q) => ({
        name: q.MetricStat?.Metric.MetricName,
        namespace: q.MetricStat?.Metric.Namespace,
        dimensions: q.MetricStat?.Metric.Dimensions,
        period: q.MetricStat?.Period,
        stat: q.MetricStat?.Stat,
      }));
    const dim = (service: string) => [{ Name: 'service', Value: service }];
    expect(stats).toEqual(
      expect.arrayContaining([
        {
          name: 'MessagesSent',
          namespace: METRICS_NAMESPACE,
          dimensions: dim('sender'),
          period: 21600,
          stat: 'Sum',
        },
        {
          name: 'MessagesFailed',
          namespace: METRICS_NAMESPACE,
          dimensions: dim('sender'),
          period: 21600,
          stat: 'Sum',
        },
        {
          name: 'MessagesFailed',
          namespace: METRICS_NAMESPACE,
          dimensions: dim('webhooks'),
          period: 21600,
          stat: 'Sum',
        },
        {
          name: 'MessagesUndelivered',
          namespace: METRICS_NAMESPACE,
          dimensions: dim('webhooks'),
          period: 21600,
          stat: 'Sum',
        },
      ]),
    );
    expect(stats).toHaveLength(4);
  });

  it('pages when the day’s estimated cost reaches the cap the sender enforces', () => {
    expect(alarm('daily-cost-cap')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: 'EstimatedCostUSD',
      Dimensions: [{ Name: 'service', Value: 'sender' }],
      Statistic: 'Sum',
      Period: 86_400,
      Threshold: DEV_SETTINGS.dailyCostLimitUsd,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    // The same figure reaches every app Lambda as DAILY_COST_LIMIT_USD (the sender's cost_cap check).
    const appFunctions = Object.values(resources(template, 'AWS::Lambda::Function'))
      .map(
        (fn) =>
          (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables,
      )
      .filter((vars) => vars?.DB_SECRET_ARN);
    expect(appFunctions).toHaveLength(7);
    for (const vars of appFunctions)
      expect(vars?.DAILY_COST_LIMIT_USD).toBe(String(DEV_SETTINGS.dailyCostLimitUsd));
  });

  it('pages on any API 5xx', () => {
    expect(alarm('api-5xx')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: logicalId(template, 'AWS::ApiGatewayV2::Api', 'WebhooksApi') } },
      ],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('pages when database free storage stays below the configured GiB for 15 minutes', () => {
    expect(alarm('database-storage-low')).toMatchObject({
      Namespace: 'AWS/RDS',
      MetricName: 'FreeStorageSpace',
      Dimensions: [
        {
          Name: 'DBInstanceIdentifier',
          Value: { Ref: logicalId(template, 'AWS::RDS::DBInstance', 'DatabasePostgres') },
        },
      ],
      Statistic: 'Minimum',
      Period: 300,
      EvaluationPeriods: 3,
      Threshold: (DEV_SETTINGS.databaseFreeStorageAlarmGib as number) * 1024 ** 3,
      ComparisonOperator: 'LessThanThreshold',
    });
  });

  it('takes thresholds from the settings', () => {
    const other = synthesize({
      context: { dailyCostLimitUsd: 2.5, deliveryFailureRatePercent: 12, databaseFreeStorageAlarmGib: 5 },
    }).template();
    const byName = (name: string) =>
      Object.values(other.findResources('AWS::CloudWatch::Alarm')).find(
        (a) => a.Properties.AlarmName === `daily-positivity-dev-${name}`,
      )?.Properties;
    expect(byName('daily-cost-cap')?.Threshold).toBe(2.5);
    expect(byName('delivery-failure-rate')?.Threshold).toBe(12);
    expect(byName('database-storage-low')?.Threshold).toBe(5 * 1024 ** 3);
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
      'FreeStorageSpace',
      'ApproximateNumberOfMessagesVisible',
      '5xx',
      'Errors',
    ]) {
      expect(body, metric).toContain(metric);
    }
    expect(body).toContain('"type\\":\\"alarm\\"');
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
