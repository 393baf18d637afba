// The stack's wiring, asserted on one synthesized template (cdk.json context, stage dev).

import { isDeepStrictEqual as isEqual } from 'node:util';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_ROUTES } from '../../lib/constructs/webhook-api.js';
import { loadCapacitySettings } from '../../lib/stack-settings.js';
import { LAMBDA_NEEDS } from '../../src/config.js';
import { DeployedCapacitySchema } from '../../src/domain/capacity.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { API_TOKEN, testApp } from '../support/webhook-doubles.js';
import { DEV_SETTINGS, logicalId, resources, synthesize } from './support.js';

let template: Template;
const APP_FUNCTIONS = ['Webhooks', 'Planner', 'Sender', 'MigrationsMigrate'] as const;
const fnId = (name: (typeof APP_FUNCTIONS)[number]) =>
  logicalId(template, 'AWS::Lambda::Function', `${name}Function`);
const fnArn = (name: (typeof APP_FUNCTIONS)[number]) => ({ 'Fn::GetAtt': [fnId(name), 'Arn'] });

function envOf(name: (typeof APP_FUNCTIONS)[number]): Record<string, unknown> {
  const env = resources(template, 'AWS::Lambda::Function')[fnId(name)]?.Properties?.Environment as
    | { Variables: Record<string, unknown> }
    | undefined;
  return env?.Variables ?? {};
}

beforeAll(() => {
  template = synthesize().template();
});

/** Every policy statement attached to the role with this logical id. */
function statementsOfRole(roleId: string): Array<{ Action: string | string[]; Resource: unknown }> {
  const policies = Object.values(resources(template, 'AWS::IAM::Policy')).filter((p) =>
    JSON.stringify(p.Properties?.Roles).includes(`"${roleId}"`),
  );
  return policies.flatMap((p) => {
    const doc = p.Properties?.PolicyDocument as
      | { Statement: Array<{ Action: string; Resource: unknown }> }
      | undefined;
    return doc?.Statement ?? [];
  });
}
const actions = (s: { Action: string | string[] }) => [s.Action].flat();

describe('daily planning', () => {
  it('runs the planner from a daily EventBridge rule with the configured cron', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: DEV_SETTINGS.dailyCron,
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: fnArn('Planner'),
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }),
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: fnArn('Planner'),
      Principal: 'events.amazonaws.com',
    });
  });

  it('gives the Scheduler a role that can invoke only the sender (and write to the DLQ)', () => {
    const roleId = logicalId(template, 'AWS::IAM::Role', 'SchedulingInvokeSenderRole');
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ],
      },
    });
    expect(resources(template, 'AWS::IAM::Role')[roleId]?.Properties?.ManagedPolicyArns).toBeUndefined();

    const statements = statementsOfRole(roleId);
    const invoke = statements.filter((s) => actions(s).some((a) => a.startsWith('lambda:')));
    expect(invoke).toEqual([
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Resource: [fnArn('Sender'), { 'Fn::Join': ['', [fnArn('Sender'), ':*']] }],
      }),
    ]);
    const others = statements.filter((s) => !invoke.includes(s));
    const dlqArn = {
      'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'SchedulingDeadLetterQueue'), 'Arn'],
    };
    // Scheduler sends a delivery it could not hand to the sender to the DLQ as this role: without
    // sqs:SendMessage on the queue, those deliveries are dropped instead of kept for 14 days.
    expect(
      others.filter((s) => actions(s).includes('sqs:SendMessage') && isEqual(s.Resource, dlqArn)),
    ).toHaveLength(1);
    for (const s of others) {
      expect(actions(s).every((a) => a.startsWith('sqs:'))).toBe(true);
      expect(s.Resource).toEqual(dlqArn);
    }
  });

  it('lets the webhooks Lambda only delete schedules in the group (opt-out), never create or pass a role', () => {
    const statements = statementsOfRole(logicalId(template, 'AWS::IAM::Role', 'WebhooksFunctionServiceRole'));
    const scheduler = statements.filter((s) => actions(s).some((a) => a.startsWith('scheduler:')));
    expect(scheduler.flatMap(actions)).toEqual(['scheduler:DeleteSchedule']);
    expect(JSON.stringify(scheduler[0]?.Resource)).toContain(
      `:schedule/daily-positivity-${DEV_SETTINGS.stage}/*`,
    );
    expect(statements.filter((s) => actions(s).includes('iam:PassRole'))).toEqual([]);
    expect(envOf('Webhooks')).toMatchObject({
      SCHEDULER_GROUP_NAME: `daily-positivity-${DEV_SETTINGS.stage}`,
    });
  });

  it('lets the webhooks Lambda invoke the sender (an operator test send) and no other function', () => {
    const statements = statementsOfRole(logicalId(template, 'AWS::IAM::Role', 'WebhooksFunctionServiceRole'));
    const invoke = statements.filter((s) => actions(s).some((a) => a.startsWith('lambda:')));
    expect(invoke).toEqual([
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Resource: [fnArn('Sender'), { 'Fn::Join': ['', [fnArn('Sender'), ':*']] }],
      }),
    ]);
    expect(envOf('Webhooks')).toMatchObject({ SENDER_FUNCTION_ARN: fnArn('Sender') });
    // Invoked asynchronously, a test send shares the scheduled sends' retries and dead-letter queue.
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId('Sender') },
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it("hands the webhooks Lambda the stage's capacity inputs as synth checked them", () => {
    const text = envOf('Webhooks').CAPACITY_SETTINGS;
    expect(typeof text).toBe('string');
    expect(DeployedCapacitySchema.parse(JSON.parse(text as string))).toEqual({
      stage: DEV_SETTINGS.stage,
      settings: loadCapacitySettings({ stage: String(DEV_SETTINGS.stage) }),
    });
  });

  it('lets the planner manage schedules only in its group and pass only the Scheduler role', () => {
    const roleId = logicalId(template, 'AWS::IAM::Role', 'PlannerFunctionServiceRole');
    const statements = statementsOfRole(roleId);
    const groupArn = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':scheduler:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          `:schedule/daily-positivity-${DEV_SETTINGS.stage}/*`,
        ],
      ],
    };
    const scheduler = statements.filter((s) => actions(s).some((a) => a.startsWith('scheduler:')));
    expect(scheduler.flatMap(actions).sort()).toEqual([
      'scheduler:CreateSchedule',
      'scheduler:DeleteSchedule',
      'scheduler:UpdateSchedule',
    ]);
    for (const s of scheduler) expect(s.Resource).toEqual(groupArn);

    const passRole = statements.filter((s) => actions(s).includes('iam:PassRole'));
    expect(passRole).toEqual([
      expect.objectContaining({
        Resource: {
          'Fn::GetAtt': [logicalId(template, 'AWS::IAM::Role', 'SchedulingInvokeSenderRole'), 'Arn'],
        },
      }),
    ]);

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SCHEDULER_GROUP_NAME: `daily-positivity-${DEV_SETTINGS.stage}`,
          SCHEDULER_ROLE_ARN: {
            'Fn::GetAtt': [logicalId(template, 'AWS::IAM::Role', 'SchedulingInvokeSenderRole'), 'Arn'],
          },
          SCHEDULER_DLQ_ARN: {
            'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'SchedulingDeadLetterQueue'), 'Arn'],
          },
          SENDER_FUNCTION_ARN: fnArn('Sender'),
        }),
      },
      Handler: 'index.handler',
    });
  });

  it('lets the planner invoke itself (its continuation) and no other function', () => {
    const roleId = logicalId(template, 'AWS::IAM::Role', 'PlannerFunctionServiceRole');
    const invoke = statementsOfRole(roleId).filter((s) => actions(s).includes('lambda:InvokeFunction'));
    expect(invoke).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: fnArn('Planner'),
      }),
    ]);
  });

  it('names the schedule group as the planner is told', () => {
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', {
      Name: `daily-positivity-${DEV_SETTINGS.stage}`,
    });
  });

  it('sends deliveries that fail in the sender after Lambda’s async retries to the same DLQ', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId('Sender') },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 6 * 3600,
      DestinationConfig: {
        OnFailure: {
          Destination: {
            'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'SchedulingDeadLetterQueue'), 'Arn'],
          },
        },
      },
    });
  });

  it('keeps failed schedule deliveries in an encrypted, TLS-only SQS dead-letter queue for 14 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('never grants a wildcard action', () => {
    for (const [id, policy] of Object.entries(resources(template, 'AWS::IAM::Policy'))) {
      const doc = policy.Properties?.PolicyDocument as { Statement: Array<{ Action: string | string[] }> };
      for (const a of doc.Statement.flatMap(actions)) expect(a, id).not.toMatch(/(^\*$|:\*$)/);
    }
  });
});

describe('Lambdas', () => {
  it('bundles all four handlers for Node.js 22 on ARM64', () => {
    for (const name of APP_FUNCTIONS) {
      const fn = resources(template, 'AWS::Lambda::Function')[fnId(name)];
      expect(fn?.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
    }
  });

  it('logs each function to its own log group with the configured retention', () => {
    for (const name of APP_FUNCTIONS) {
      const logging = resources(template, 'AWS::Lambda::Function')[fnId(name)]?.Properties?.LoggingConfig as {
        LogGroup: { Ref: string };
      };
      const group = resources(template, 'AWS::Logs::LogGroup')[logging.LogGroup.Ref];
      expect(group?.Properties?.RetentionInDays, name).toBe(DEV_SETTINGS.logRetentionDays);
    }
    for (const [id, group] of Object.entries(resources(template, 'AWS::Logs::LogGroup'))) {
      expect(group.Properties?.RetentionInDays, id).toBe(DEV_SETTINGS.logRetentionDays);
    }
  });

  it('gives the app Lambdas the API’s URL as PUBLIC_BASE_URL and TLS to Postgres', () => {
    const api = logicalId(template, 'AWS::ApiGatewayV2::Api', 'WebhooksApi');
    for (const name of ['Webhooks', 'Sender', 'Planner'] as const) {
      expect(resources(template, 'AWS::Lambda::Function')[fnId(name)]?.Properties?.Environment).toMatchObject(
        {
          Variables: {
            PUBLIC_BASE_URL: { 'Fn::GetAtt': [api, 'ApiEndpoint'] },
            DATABASE_SSL: 'true',
            NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
            TWILIO_FROM_NUMBER: DEV_SETTINGS.twilioFromNumber,
          },
        },
      );
    }
  });
});

describe('Lambda settings', () => {
  it.each([
    ['webhooks', 'Webhooks'],
    ['planner', 'Planner'],
    ['sender', 'Sender'],
  ] as const)('%s has every setting src/config.ts LAMBDA_NEEDS says it requires', (name, id) => {
    const env = envOf(id);
    for (const setting of LAMBDA_NEEDS[name].settings) expect(env, setting).toHaveProperty(setting);
  });
});

describe('HTTP API', () => {
  it('routes exactly the Twilio, health and operator API endpoints to the webhooks Lambda, and no $default', () => {
    const routes = Object.values(resources(template, 'AWS::ApiGatewayV2::Route'));
    expect(routes.map((r) => r.Properties?.RouteKey).sort()).toEqual(
      [
        'POST /twilio/inbound',
        'POST /twilio/status',
        'GET /health',
        'HEAD /health',
        'GET /api/subscribers',
        'POST /api/subscribers',
        'GET /api/subscribers/{phone}',
        'PATCH /api/subscribers/{phone}',
        'DELETE /api/subscribers/{phone}',
        'POST /api/subscribers/{phone}/send-now',
        'GET /api/deliveries',
        'GET /api/deliveries/{id}',
        'GET /api/usage',
        'GET /api/capacity',
        'GET /api/openapi.json',
      ].sort(),
    );
    expect(WEBHOOK_ROUTES.flatMap((r) => r.methods).length).toBe(routes.length);
    template.allResourcesProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: fnArn('Webhooks'),
      PayloadFormatVersion: '2.0',
    });
  });

  it('routes every method the app names in Allow: API Gateway answers anything unrouted with its own 404', async () => {
    const routed = new Map<string, string[]>();
    for (const r of Object.values(resources(template, 'AWS::ApiGatewayV2::Route'))) {
      const [method, path] = String(r.Properties?.RouteKey).split(' ') as [string, string];
      routed.set(path, [...(routed.get(path) ?? []), method]);
    }
    // Only the 405 handler runs for OPTIONS (no route has it), so no database is needed.
    const app = testApp({ db: {} as never });
    for (const [path, methods] of routed) {
      const url = path
        .replace('{phone}', '%2B14155550123')
        .replace('{id}', '00000000-0000-4000-8000-000000000000');
      const response = await app.request(url, {
        method: 'OPTIONS',
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      expect(response.status, path).toBe(405);
      const allow = response.headers.get('allow')?.split(', ') ?? [];
      expect(methods.sort(), path).toEqual(allow.sort());
    }
  });

  it('routes every operation of the OpenAPI description of /api (the document promises nothing API Gateway drops)', () => {
    const routeKeys = new Set(
      Object.values(resources(template, 'AWS::ApiGatewayV2::Route')).map((r) => r.Properties?.RouteKey),
    );
    const described = Object.entries(openApiDocument().paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(described.length).toBeGreaterThan(10);
    for (const key of described) expect(routeKeys, key).toContain(key);
  });

  it('throttles the stage and logs route keys, never paths with phone numbers', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { Format: Match.stringLikeRegexp('\\$context\\.routeKey') },
    });
    const stage = Object.values(resources(template, 'AWS::ApiGatewayV2::Stage'))[0];
    expect(JSON.stringify(stage?.Properties?.AccessLogSettings)).not.toMatch(/\$context\.(path|requestUri)/);
  });

  it('outputs the URLs to paste into the Twilio console', () => {
    const api = logicalId(template, 'AWS::ApiGatewayV2::Api', 'WebhooksApi');
    template.hasOutput('TwilioInboundWebhookUrl', {
      Value: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [api, 'ApiEndpoint'] }, '/twilio/inbound']] },
    });
    template.hasOutput('TwilioStatusCallbackUrl', {
      Value: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [api, 'ApiEndpoint'] }, '/twilio/status']] },
    });
  });
});

describe('database and migrations', () => {
  it('runs PostgreSQL 18 on Graviton, encrypted, private, backed up; no deletion protection outside prod', () => {
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      EngineVersion: '18',
      DBInstanceClass: 'db.t4g.micro',
      StorageEncrypted: true,
      PubliclyAccessible: false,
      BackupRetentionPeriod: 7,
      DeletionProtection: false,
      MasterUserPassword: Match.objectLike({}), // from the generated secret, never a literal
    });
    template.hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Snapshot' });
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      SubnetIds: [
        { Ref: logicalId(template, 'AWS::EC2::Subnet', 'NetworkVpcdataSubnet1') },
        { Ref: logicalId(template, 'AWS::EC2::Subnet', 'NetworkVpcdataSubnet2') },
      ],
    });
  });

  it('admits only the Lambdas’ and the password rotation’s security groups to the database', () => {
    const dbPort = {
      'Fn::GetAtt': [logicalId(template, 'AWS::RDS::DBInstance', 'DatabasePostgres'), 'Endpoint.Port'],
    };
    const ingress = Object.values(resources(template, 'AWS::EC2::SecurityGroupIngress')).map(
      (i) => i.Properties,
    );
    expect(ingress).toHaveLength(2);
    const sources = ingress.map((i) => {
      expect(i?.FromPort).toEqual(dbPort);
      expect(i?.ToPort).toEqual(dbPort);
      return JSON.stringify(i?.SourceSecurityGroupId);
    });
    expect(sources.sort()).toEqual(
      [
        logicalId(template, 'AWS::EC2::SecurityGroup', 'NetworkLambdaSecurityGroup'),
        logicalId(template, 'AWS::EC2::SecurityGroup', 'DatabasePostgresRotationSingleUserSecurityGroup'),
      ]
        .map((id) => JSON.stringify({ 'Fn::GetAtt': [id, 'GroupId'] }))
        .sort(),
    );
  });

  it('runs migrations during the deploy, after the database and before the app Lambdas', () => {
    const migrateVersion = logicalId(
      template,
      'AWS::Lambda::Version',
      'MigrationsMigrateFunctionCurrentVersion',
    );
    template.hasResourceProperties('Custom::Trigger', {
      HandlerArn: { Ref: migrateVersion },
      InvocationType: 'RequestResponse',
      ExecuteOnHandlerChange: true,
    });
    const [triggerId, trigger] = Object.entries(resources(template, 'Custom::Trigger'))[0] ?? [];
    expect(trigger?.DependsOn).toContain(logicalId(template, 'AWS::RDS::DBInstance', 'DatabasePostgres'));
    expect(trigger?.DependsOn).toContain(
      logicalId(template, 'AWS::EC2::Instance', 'NetworkVpcpublicSubnet1NatInstance'),
    );
    for (const name of ['Webhooks', 'Planner', 'Sender'] as const) {
      expect(resources(template, 'AWS::Lambda::Function')[fnId(name)]?.DependsOn, name).toContain(triggerId);
    }
  });
});

describe('webhook spool (issue #15: inbound is never lost)', () => {
  it('gives the webhooks Lambda an encrypted queue with a DLQ, consumed back with partial batch failures', () => {
    const queueId = logicalId(template, 'AWS::SQS::Queue', 'WebhookSpoolQueue');
    const dlqId = logicalId(template, 'AWS::SQS::Queue', 'WebhookSpoolDeadLetterQueue');
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 120,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 60 },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId('Webhooks') },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(envOf('Webhooks').WEBHOOK_SPOOL_QUEUE_URL).toEqual({ Ref: queueId });
    const webhooks = resources(template, 'AWS::Lambda::Function')[fnId('Webhooks')];
    const role = webhooks?.Properties?.Role as { 'Fn::GetAtt': string[] } | undefined;
    const roleId = role?.['Fn::GetAtt'][0] as string;
    const sends = statementsOfRole(roleId).filter((s) => actions(s).includes('sqs:SendMessage'));
    expect(sends.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
  });

  it('lets the sender cancel schedules (a send refused because the recipient opted out)', () => {
    expect(envOf('Sender').SCHEDULER_GROUP_NAME).toBeDefined();
  });
});
