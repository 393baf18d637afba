// The whole service as one stack: composes the constructs in lib/constructs and names its outputs.
import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { apiThrottle, concurrencyPlan } from '../src/domain/capacity.js';
import { CostBudget } from './constructs/cost-budget.js';
import { DailyPlanner } from './constructs/daily-planner.js';
import { Database, DB_PASSWORD_ROTATION_DAYS } from './constructs/database.js';
import { DatabaseMigrations } from './constructs/database-migrations.js';
import { DeliveryScheduling } from './constructs/delivery-scheduling.js';
import { EgressProbe } from './constructs/egress-probe.js';
import { MessageSender } from './constructs/message-sender.js';
import { Monitoring } from './constructs/monitoring.js';
import { Network } from './constructs/network.js';
import { ScheduledJobs } from './constructs/scheduled-jobs.js';
import type { ServiceFunctionShared } from './constructs/service-function.js';
import { ServiceSecrets } from './constructs/service-secrets.js';
import { WebhookApi } from './constructs/webhook-api.js';
import { WebhookSpool } from './constructs/webhook-spool.js';
import type { StackSettings } from './stack-settings.js';

export interface PositivityStackProps extends StackProps {
  settings: StackSettings;
}

export class PositivityStack extends Stack {
  readonly network: Network;
  readonly database: Database;
  readonly secrets: ServiceSecrets;
  readonly egressProbe: EgressProbe;
  readonly sender: MessageSender;
  readonly scheduling: DeliveryScheduling;
  readonly planner: DailyPlanner;
  readonly webhooks: WebhookApi;
  readonly webhookSpool: WebhookSpool;
  readonly migrations: DatabaseMigrations;
  readonly jobs: ScheduledJobs;
  readonly monitoring: Monitoring;
  readonly budget: CostBudget;

  constructor(scope: Construct, id: string, props: PositivityStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const logRetention = settings.logRetentionDays as RetentionDays;
    Tags.of(this).add('app', 'daily-positivity');
    Tags.of(this).add('stage', settings.stage);

    this.network = new Network(this, 'Network', {
      logRetention,
      egress: settings.egress,
      natImageId: settings.natImageId,
    });
    this.database = new Database(this, 'Database', {
      vpc: this.network.vpc,
      subnets: this.network.databaseSubnets,
      rotationSubnets: this.network.lambdaSubnets,
      clientSecurityGroup: this.network.lambdaSecurityGroup,
      stage: settings.stage,
      deletionProtection: settings.stage === 'prod',
      logRetention,
      instanceType: settings.databaseInstanceType,
      rdsProxy: settings.rdsProxy,
    });
    this.secrets = new ServiceSecrets(this, 'Secrets', {
      stage: settings.stage,
      database: this.database.secret,
    });

    const shared: ServiceFunctionShared = {
      vpc: this.network.vpc,
      subnets: this.network.lambdaSubnets,
      securityGroup: this.network.lambdaSecurityGroup,
      secrets: this.secrets,
      concurrency: concurrencyPlan(settings.capacity),
      logRetention,
      // Names from src/config.ts; none of them is secret.
      environment: {
        NODE_ENV: 'production',
        LOG_LEVEL: 'INFO',
        DATABASE_SSL: 'true',
        // Node 20+ Lambda runtimes no longer trust the RDS CA by default; this bundle of AWS CAs does.
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        // Every operator setting the Lambdas read (stack-settings.ts LAMBDA_ENVIRONMENT), resolved.
        ...settings.lambdaEnvironment,
        // With RDS Proxy the Lambdas connect to it instead of the host in the database secret.
        ...(this.database.proxy ? { DATABASE_HOST: this.database.proxy.endpoint } : {}),
      },
    };

    this.sender = new MessageSender(this, 'Sender', { shared });
    this.scheduling = new DeliveryScheduling(this, 'Scheduling', {
      stage: settings.stage,
      sender: this.sender.function.fn,
    });
    this.planner = new DailyPlanner(this, 'Planner', {
      shared,
      scheduling: this.scheduling,
      sender: this.sender.function.fn,
      dailyCron: settings.dailyCron,
    });
    this.webhooks = new WebhookApi(this, 'Webhooks', {
      shared,
      throttle: apiThrottle(settings.capacity.messagesPerSecond),
      capacity: { stage: settings.stage, settings: settings.capacity },
    });
    this.scheduling.grantCancelSchedules(this.webhooks.function.fn);
    // An operator's test send (POST /api/subscribers/{phone}/send-now) hands the delivery to the sender.
    this.sender.grantTestSends(this.webhooks.function.fn);
    // Every opt-out removes the subscriber's planned schedules, also one the sender learns of from Twilio.
    this.scheduling.grantCancelSchedules(this.sender.function.fn);
    this.webhookSpool = new WebhookSpool(this, 'WebhookSpool', { webhooks: this.webhooks.function.fn });

    // The API URL is a token on the API resource, which depends on nothing here: no cycle.
    const appFunctions = [this.webhooks.function.fn, this.sender.function.fn, this.planner.function.fn];
    for (const fn of appFunctions) fn.addEnvironment('PUBLIC_BASE_URL', this.webhooks.baseUrl);

    this.jobs = new ScheduledJobs(this, 'Jobs', { shared });
    const jobFunctions = Object.values(this.jobs.functions).map((f) => f.fn);

    this.migrations = new DatabaseMigrations(this, 'Migrations', {
      shared,
      executeAfter: [this.network, this.database],
      executeBefore: [...appFunctions, ...jobFunctions],
    });

    this.egressProbe = new EgressProbe(this, 'EgressProbe', {
      vpc: this.network.vpc,
      subnets: this.network.lambdaSubnets,
      securityGroup: this.network.lambdaSecurityGroup,
      logRetention,
      egress: this.network.egressResources,
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: settings.stage,
      alertEmail: settings.alertEmail,
      functions: [
        { label: 'sender', fn: this.sender.function.fn },
        { label: 'webhooks', fn: this.webhooks.function.fn },
        { label: 'planner', fn: this.planner.function.fn },
        { label: 'cleanup', fn: this.jobs.functions.cleanup.fn },
        { label: 'reconcile', fn: this.jobs.functions.reconcile.fn },
        { label: 'daily-report', fn: this.jobs.functions['daily-report'].fn },
      ],
      planner: this.planner.function.fn,
      egressProbe: this.egressProbe.function,
      deadLetterQueue: this.scheduling.deadLetterQueue,
      api: this.webhooks.api,
      database: this.database.instance,
      dailyCostLimitUsd: settings.runtime.DAILY_COST_LIMIT_USD,
      deliveryFailureRatePercent: settings.deliveryFailureRatePercent,
      databaseFreeStorageAlarmGib: settings.databaseFreeStorageAlarmGib,
      webhookSpool: this.webhookSpool,
      webhookSpoolOldestAgeAlarmMinutes: settings.webhookSpoolOldestAgeAlarmMinutes,
      webhookSpoolDeadLettersAlarm: settings.webhookSpoolDeadLettersAlarm,
      statusCallbacksSilentSendsPerHour: settings.statusCallbacksSilentSendsPerHour,
    });

    this.budget = new CostBudget(this, 'Budget', {
      stage: settings.stage,
      monthlyBudgetUsd: settings.monthlyBudgetUsd,
      topic: this.monitoring.topic,
    });

    const base = this.webhooks.baseUrl;
    new CfnOutput(this, 'PublicBaseUrl', {
      value: base,
      description: 'PUBLIC_BASE_URL: the base of every URL below (already set on the Lambdas)',
    });
    new CfnOutput(this, 'TwilioInboundWebhookUrl', {
      value: `${base}/twilio/inbound`,
      description: 'Twilio console → phone number → Messaging → "A message comes in" (HTTP POST)',
    });
    new CfnOutput(this, 'TwilioStatusCallbackUrl', {
      value: `${base}/twilio/status`,
      description: 'Status callback URL (the sender also sets it on every message)',
    });
    new CfnOutput(this, 'HealthUrl', { value: `${base}/health` });
    new CfnOutput(this, 'TwilioSecretArn', {
      value: this.secrets.twilio.secretArn,
      description: 'Put TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN here',
    });
    new CfnOutput(this, 'OpenAiSecretArn', {
      value: this.secrets.openai.secretArn,
      description: 'Put OPENAI_API_KEY here',
    });
    new CfnOutput(this, 'ApiSecretArn', {
      value: this.secrets.api.secretArn,
      description: 'API_TOKEN (generated): the bearer token of /api/subscribers',
    });
    new CfnOutput(this, 'DatabaseSecretArn', {
      value: this.database.secret.secretArn,
      description: `RDS credentials, rotated every ${DB_PASSWORD_ROTATION_DAYS} days by Secrets Manager`,
    });
    new CfnOutput(this, 'SchedulerDeadLetterQueueUrl', { value: this.scheduling.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'PlannerFunctionName', { value: this.planner.function.fn.functionName });
    new CfnOutput(this, 'MigrateFunctionName', { value: this.migrations.function.fn.functionName });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.monitoring.topic.topicArn,
      description: 'Every alarm and budget alert; confirm the email subscription it sends to alertEmail',
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
  }
}
