// What wakes an operator: one SNS topic (email to alertEmail, TLS only), an alarm per way this service
// breaks, and a CloudWatch dashboard of the key figures. Business metrics come from the Lambdas' EMF lines
// (src/metrics.ts: namespace, names and the `service` dimension are read from there, so they cannot drift).
import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EGRESS_PROBE_MINUTES } from '../../src/domain/capacity.js';
import { METRICS_NAMESPACE, MetricName, MetricService, TwilioWebhookRoute } from '../../src/metrics.js';

const GIB = 1024 ** 3;
/** Window of the delivery failure rate: about one afternoon of sends in one time-zone band. */
const FAILURE_RATE_WINDOW = Duration.hours(6);
/** The planner alarm looks back this far: one day plus an hour of slack for a late EventBridge rule. */
export const PLANNER_SILENCE_HOURS = 25;
/** Consecutive failed (or missing) egress probe runs before the alarm fires: 3 × 10 minutes. */
export const EGRESS_FAILED_PROBES = 3;
/**
 * Period of the refused-webhook alarm, which pages at the first refusal in it: only webhooks from our own
 * Twilio account are counted (scans are not), each one is lost, and a broken inbound URL may see a handful
 * of texts a day, so waiting for several would wait for days.
 */
const WEBHOOK_REFUSED_WINDOW = Duration.minutes(15);
const WEBHOOK_REFUSALS_TO_PAGE = 1;
/**
 * The status-callbacks-silent alarm judges hours: an hour breaches when the sender sent at least the stage's
 * threshold and not one final status came back through the webhooks. Metric math cannot shift a series in
 * time, so "sends until 15 minutes before the end" cannot be written, and the day's first sends can all fall
 * in the last minutes of an hour, their callbacks (seconds to minutes later) in the next: that hour breaches
 * on its own, so one breaching hour never pages; the next hour has the statuses. Two of three rather than two
 * in a row, so an hour with fewer sends in between (the edge of a zone's window) does not hide an outage.
 * Pages 2–3 hours after callbacks stop, within the day's sending (a zone's window is 5 hours by default).
 */
const SILENT_CALLBACKS_PERIOD = Duration.hours(1);
const SILENT_CALLBACKS_HOURS = { evaluated: 3, toAlarm: 2 };

interface MonitoredFunction {
  /** Short name used in the alarm name and the dashboard, e.g. `sender`. */
  label: string;
  fn: lambda.IFunction;
}

export interface MonitoringProps {
  stage: string;
  alertEmail: string;
  /** Every Lambda whose errors should page (the planner included). */
  functions: MonitoredFunction[];
  planner: lambda.IFunction;
  /** Throws when the Lambdas' subnets cannot reach the internet (EgressProbe). */
  egressProbe: lambda.IFunction;
  deadLetterQueue: sqs.IQueue;
  /** Where signed webhooks wait while the database is unreachable (lib/constructs/webhook-spool.ts). */
  webhookSpool: { queue: sqs.IQueue; deadLetterQueue: sqs.IQueue };
  webhookSpoolOldestAgeAlarmMinutes: number;
  webhookSpoolDeadLettersAlarm: number;
  api: apigwv2.HttpApi;
  database: rds.IDatabaseInstance;
  dailyCostLimitUsd: number;
  deliveryFailureRatePercent: number;
  databaseFreeStorageAlarmGib: number;
  /** Sends in an hour with no final status back that make it a silent hour (status-callbacks-silent). */
  statusCallbacksSilentSendsPerHour: number;
}

/** One business metric from the EMF namespace, as the given Lambda publishes it. */
function businessMetric(
  name: MetricName,
  service: MetricService,
  options: {
    period?: Duration;
    label?: string;
    statistic?: string;
    dimensions?: Record<string, string>;
  } = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { ...options.dimensions, service },
    statistic: options.statistic ?? cloudwatch.Stats.SUM,
    period: options.period ?? Duration.hours(1),
    label: options.label,
  });
}

/** The sum of some metrics over one period, each missing datapoint counted as 0. */
function sumOf(label: string, period: Duration, metrics: Record<string, cloudwatch.IMetric>) {
  return new cloudwatch.MathExpression({
    expression: Object.keys(metrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics: metrics,
    period,
    label,
  });
}

/** A metric published with one extra dimension (e.g. DeliveriesSkipped by reason), every value of it. */
function searchByDimension(name: MetricName, dimension: string, period: Duration) {
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},${dimension},service} MetricName="${name}"', 'Sum', ${period.toSeconds()})`,
    period,
  });
}

export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: Record<string, cloudwatch.Alarm> = {};
  readonly dashboard: cloudwatch.Dashboard;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.prefix = `daily-positivity-${props.stage}`;

    this.topic = new sns.Topic(this, 'Alarms', {
      displayName: `Daily Positivity (${props.stage}) alarms`,
      // Publishers must use TLS (cdk-nag SNS3). No KMS key: notices carry no personal data, and CloudWatch
      // alarms and AWS Budgets cannot publish to a topic under the AWS-managed SNS key.
      enforceSSL: true,
    });
    this.topic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));
    // Any topic policy replaces SNS's default one, which is what let CloudWatch publish: without this
    // statement every alarm fires into nothing. Only this account's alarms of this stage may publish.
    const { account, partition, region } = Stack.of(this);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: {
            'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:${this.prefix}-*`,
          },
        },
      }),
    );

    for (const { label, fn } of props.functions) {
      this.alarm(`${label}-errors`, {
        alarmDescription: `The ${label} Lambda threw (see its log group for the error line).`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    this.alarm('planner-did-not-run', {
      alarmDescription: `The planner was not invoked in the last ${PLANNER_SILENCE_HOURS} hours: nobody gets a message tomorrow.`,
      metric: props.planner.metricInvocations({ period: Duration.hours(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: PLANNER_SILENCE_HOURS,
      datapointsToAlarm: PLANNER_SILENCE_HOURS,
      // Lambda publishes no datapoint for an hour without invocations: silence is the failure.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.alarm('egress-unreachable', {
      alarmDescription: `The Lambdas' subnets could not reach Twilio, OpenAI or Secrets Manager for ${EGRESS_FAILED_PROBES * EGRESS_PROBE_MINUTES} minutes: sends are failing. The egress probe's log names the hosts; all of them means the NAT (DEPLOYMENT.md, "Egress").`,
      metric: props.egressProbe.metricErrors({
        period: Duration.minutes(EGRESS_PROBE_MINUTES),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: EGRESS_FAILED_PROBES,
      datapointsToAlarm: EGRESS_FAILED_PROBES,
      // The probe runs every period; no datapoint means it did not run, which proves nothing either.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.alarm('planner-work-left', {
      alarmDescription:
        'A planner run left deliveries without a schedule and could not hand them to a continuation (every call failing, the chain at its limit, or the self-invoke refused): they wait for the next daily run. See the planner log line "waits for the next daily run".',
      metric: businessMetric(MetricName.PlannerWorkLeft, MetricService.planner, {
        period: Duration.hours(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('dlq-not-empty', {
      alarmDescription:
        'Deliveries are in the scheduling dead-letter queue (Scheduler could not invoke the sender, or it failed after retries).',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('webhook-spool-dead-letters', {
      alarmDescription: `Kept webhooks (texts or status callbacks that arrived while the database was unreachable) reached the spool's dead-letter queue: they will not be applied on their own, and an opt-out among them is not honoured yet. Fix the cause (the webhooks Lambda's log says why), then redrive the dead-letter queue to the spool (docs/resilience.md).`,
      metric: props.webhookSpool.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: props.webhookSpoolDeadLettersAlarm,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('webhook-spool-oldest-age', {
      alarmDescription: `A webhook has waited in the spool for ${props.webhookSpoolOldestAgeAlarmMinutes} minutes: the database is still unreachable, or applying kept webhooks keeps failing (an opt-out among them waits too).`,
      metric: props.webhookSpool.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: props.webhookSpoolOldestAgeAlarmMinutes * 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('delivery-failure-rate', {
      alarmDescription: `Failed + undelivered messages above ${props.deliveryFailureRatePercent}% of messages sent over ${FAILURE_RATE_WINDOW.toHours()} h.`,
      metric: this.failureRatePercent(FAILURE_RATE_WINDOW),
      threshold: props.deliveryFailureRatePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('webhook-signature-refused', {
      alarmDescription: `Twilio's own webhooks (signed, our AccountSid) failed the signature check: inbound texts (an opt-out phrase among them) or status callbacks are lost, and Twilio does not resend them. The webhooks Lambda's WARN line "twilio webhook refused" names the route and the check. cause public_base_url: the URL in the Twilio console (number or Messaging Service) is not PUBLIC_BASE_URL + route; it must be the TwilioInboundWebhookUrl output exactly (a custom domain means changing both). cause auth_token: TWILIO_AUTH_TOKEN in the Twilio secret is not the account's current primary auth token (rotated in Twilio only); put it in the secret, no deploy needed. docs/observability.md, "Refused Twilio webhooks".`,
      metric: this.refusedWebhooks(WEBHOOK_REFUSED_WINDOW),
      threshold: WEBHOOK_REFUSALS_TO_PAGE,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const silent = SILENT_CALLBACKS_HOURS;
    this.alarm('status-callbacks-silent', {
      alarmDescription: `Messages went out (at least ${props.statusCallbacksSilentSendsPerHour} an hour, in ${silent.toAlarm} of the last ${silent.evaluated} hours) and no StatusCallback brought a final status (delivered, undelivered, failed): Twilio's status callbacks do not reach the webhooks Lambda, and deliveries stay "sent" until reconciliation asks Twilio 24-48 h later, 500 a night at most. Not a signature refusal (webhook-signature-refused). Check the HTTP API's 4xx on the dashboard (the stage throttle's 429s); Twilio console, Monitor > Logs > Errors (11200 names the URL Twilio called); that the URL is PUBLIC_BASE_URL/twilio/status, the TwilioStatusCallbackUrl output; status.twilio.com. docs/observability.md, "Silent status callbacks".`,
      metric: this.sendsWithoutStatus(SILENT_CALLBACKS_PERIOD),
      threshold: props.statusCallbacksSilentSendsPerHour,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: silent.evaluated,
      datapointsToAlarm: silent.toAlarm,
      // No datapoint at all: nothing was sent and nothing came back; a quiet night is not an outage.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('daily-cost-cap', {
      alarmDescription: `Estimated spend today reached DAILY_COST_LIMIT_USD (${props.dailyCostLimitUsd} USD): the sender is skipping with cost_cap.`,
      metric: businessMetric(MetricName.EstimatedCostUSD, MetricService.sender, { period: Duration.days(1) }),
      threshold: props.dailyCostLimitUsd,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('api-5xx', {
      alarmDescription: 'The HTTP API answered 5xx (Twilio retries; an inbound STOP may be waiting).',
      metric: props.api.metricServerError({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('database-storage-low', {
      alarmDescription: `Database free storage below ${props.databaseFreeStorageAlarmGib} GiB for 15 minutes (storage autoscaling should have acted by then).`,
      metric: props.database.metricFreeStorageSpace({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MINIMUM,
      }),
      threshold: props.databaseFreeStorageAlarmGib * GIB,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.dashboard = this.buildDashboard(props);
  }

  /**
   * 100 × (sender failures + failed and undelivered status callbacks) / messages sent. A window with
   * failures but no sends (callbacks for earlier messages) counts as 100%; one with neither as 0.
   */
  failureRatePercent(period: Duration): cloudwatch.MathExpression {
    const failures = sumOf('failed + undelivered', period, {
      senderFailed: businessMetric(MetricName.MessagesFailed, MetricService.sender, { period }),
      callbackFailed: businessMetric(MetricName.MessagesFailed, MetricService.webhooks, { period }),
      undelivered: businessMetric(MetricName.MessagesUndelivered, MetricService.webhooks, { period }),
    });
    return new cloudwatch.MathExpression({
      expression: 'IF(FILL(sent, 0) > 0, 100 * failures / FILL(sent, 0), IF(failures > 0, 100, 0))',
      usingMetrics: {
        sent: businessMetric(MetricName.MessagesSent, MetricService.sender, { period }),
        failures,
      },
      period,
      label: 'delivery failure rate (%)',
    });
  }

  /**
   * Messages the sender sent in a period in which no final status came back through the webhooks (live or
   * from the spool), and 0 when any did, delivered or not. Reconciliation's statuses (service=reconcile) are
   * repairs of a silence, not callbacks, and do not count.
   */
  private sendsWithoutStatus(period: Duration): cloudwatch.MathExpression {
    const callback = (name: MetricName) => businessMetric(name, MetricService.webhooks, { period });
    const statuses = sumOf('final statuses from callbacks', period, {
      delivered: callback(MetricName.MessagesDelivered),
      undelivered: callback(MetricName.MessagesUndelivered),
      failed: callback(MetricName.MessagesFailed),
    });
    return new cloudwatch.MathExpression({
      expression: 'IF(statuses > 0, 0, FILL(sent, 0))',
      usingMetrics: {
        sent: businessMetric(MetricName.MessagesSent, MetricService.sender, { period }),
        statuses,
      },
      period,
      label: 'messages sent, no final status back',
    });
  }

  /** WebhookSignatureRefused of both routes, one series (an alarm cannot SEARCH). */
  private refusedWebhooks(period: Duration): cloudwatch.MathExpression {
    const route = (value: TwilioWebhookRoute) =>
      businessMetric(MetricName.WebhookSignatureRefused, MetricService.webhooks, {
        period,
        dimensions: { route: value },
      });
    return new cloudwatch.MathExpression({
      expression: 'FILL(inbound, 0) + FILL(status, 0)',
      usingMetrics: { inbound: route(TwilioWebhookRoute.inbound), status: route(TwilioWebhookRoute.status) },
      period,
      label: 'refused Twilio webhooks',
    });
  }

  private alarm(name: string, props: Omit<cloudwatch.AlarmProps, 'alarmName'>): cloudwatch.Alarm {
    const id = name.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());
    const alarm = new cloudwatch.Alarm(this, id, { ...props, alarmName: `${this.prefix}-${name}` });
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    this.alarms[name] = alarm;
    return alarm;
  }

  private buildDashboard(props: MonitoringProps): cloudwatch.Dashboard {
    const hour = Duration.hours(1);
    const day = Duration.days(1);
    const sender = (name: MetricName, label?: string) =>
      businessMetric(name, MetricService.sender, { period: hour, label });
    const webhooks = (name: MetricName, label?: string) =>
      businessMetric(name, MetricService.webhooks, { period: hour, label });

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: this.prefix,
      defaultInterval: Duration.days(7),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: Object.values(this.alarms),
        width: 24,
        height: 4,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Messages (per hour)',
        left: [
          businessMetric(MetricName.DeliveriesPlanned, MetricService.planner, { period: hour }),
          sender(MetricName.MessagesSent),
          webhooks(MetricName.MessagesDelivered),
          webhooks(MetricName.MessagesUndelivered),
          sender(MetricName.MessagesFailed, 'MessagesFailed (sender)'),
          webhooks(MetricName.MessagesFailed, 'MessagesFailed (callbacks)'),
          sender(MetricName.FallbackMessages),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Delivery failure rate (%)',
        left: [this.failureRatePercent(FAILURE_RATE_WINDOW)],
        leftAnnotations: [{ value: props.deliveryFailureRatePercent, label: 'alarm' }],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Estimated cost (USD per day)',
        left: [businessMetric(MetricName.EstimatedCostUSD, MetricService.sender, { period: day })],
        leftAnnotations: [{ value: props.dailyCostLimitUsd, label: 'DAILY_COST_LIMIT_USD' }],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'OpenAI (per hour)',
        left: [sender(MetricName.OpenAIRequests)],
        right: [sender(MetricName.OpenAITokens)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Opt-outs and opt-ins (per day)',
        left: [
          businessMetric(MetricName.OptOuts, MetricService.webhooks, { period: day }),
          businessMetric(MetricName.OptIns, MetricService.webhooks, { period: day }),
          businessMetric(MetricName.OptOuts, MetricService.sender, {
            period: day,
            label: 'OptOuts (carrier)',
          }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Skipped deliveries by reason (per hour)',
        left: [searchByDimension(MetricName.DeliveriesSkipped, 'reason', hour)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Rate-limit hits by budget (per hour)',
        left: [searchByDimension(MetricName.RateLimitHits, 'budget', hour)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `Refused Twilio webhooks of our account (per ${WEBHOOK_REFUSED_WINDOW.toMinutes()} minutes)`,
        left: Object.values(TwilioWebhookRoute).map((route) =>
          businessMetric(MetricName.WebhookSignatureRefused, MetricService.webhooks, {
            period: WEBHOOK_REFUSED_WINDOW,
            dimensions: { route },
            label: route,
          }),
        ),
        leftAnnotations: [{ value: WEBHOOK_REFUSALS_TO_PAGE, label: 'alarm' }],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Lambda errors (per 5 minutes)',
        left: props.functions.map(({ label, fn }) =>
          fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM, label }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'HTTP API',
        left: [
          props.api.metricServerError({ period: Duration.minutes(5), label: '5xx' }),
          props.api.metricClientError({ period: Duration.minutes(5), label: '4xx' }),
        ],
        right: [
          props.api.metricLatency({ period: Duration.minutes(5), statistic: 'p99', label: 'p99 latency' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Scheduling DLQ (messages visible)',
        left: [
          props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(5),
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Database storage (bytes)',
        left: [
          props.database.metricFreeStorageSpace({ period: hour, statistic: cloudwatch.Stats.MINIMUM }),
          businessMetric(MetricName.DatabaseSizeBytes, MetricService.cleanup, {
            period: day,
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
        ],
        leftAnnotations: [{ value: props.databaseFreeStorageAlarmGib * GIB, label: 'free storage alarm' }],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Reconciliation and planner (per day)',
        left: [
          businessMetric(MetricName.DeliveriesReconciled, MetricService.reconcile, { period: day }),
          props.planner.metricInvocations({
            period: day,
            statistic: cloudwatch.Stats.SUM,
            label: 'planner runs',
          }),
        ],
        width: 12,
      }),
    );
    return dashboard;
  }
}
