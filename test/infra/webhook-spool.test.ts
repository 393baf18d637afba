// The webhook spool's queues and the two alarms an operator needs on them: something reached the
// dead-letter queue (a kept webhook that will never be applied on its own), and kept webhooks have waited
// too long (the database is still down, or the consumer is failing).
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEV_SETTINGS, logicalId, resources, synthesize } from './support.js';

let template: Template;

beforeAll(() => {
  template = synthesize().template();
});

function alarm(t: Template, name: string, stage = DEV_SETTINGS.stage): Record<string, unknown> {
  const found = Object.values(resources(t, 'AWS::CloudWatch::Alarm')).filter(
    (a) => a.Properties?.AlarmName === `daily-positivity-${stage}-${name}`,
  );
  expect(found, name).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

const queueName = (t: Template, prefix: string) => ({
  'Fn::GetAtt': [logicalId(t, 'AWS::SQS::Queue', prefix), 'QueueName'],
});

describe('webhook spool alarms', () => {
  it('pages when a kept webhook reaches the dead-letter queue (by default at the first one)', () => {
    expect(alarm(template, 'webhook-spool-dead-letters')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: queueName(template, 'WebhookSpoolDeadLetterQueue') }],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: logicalId(template, 'AWS::SNS::Topic', 'MonitoringAlarms') }],
    });
  });

  it('pages when the oldest kept webhook has waited longer than the setting (default 15 minutes)', () => {
    expect(alarm(template, 'webhook-spool-oldest-age')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: queueName(template, 'WebhookSpoolQueue') }],
      Statistic: 'Maximum',
      Threshold: 15 * 60,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: logicalId(template, 'AWS::SNS::Topic', 'MonitoringAlarms') }],
    });
  });

  it('takes both thresholds from the stage settings', () => {
    const other = synthesize({
      context: { webhookSpoolOldestAgeAlarmMinutes: 45, webhookSpoolDeadLettersAlarm: 3 },
    }).template();
    expect(alarm(other, 'webhook-spool-oldest-age').Threshold).toBe(45 * 60);
    expect(alarm(other, 'webhook-spool-dead-letters').Threshold).toBe(3);
  });

  it('refuses thresholds that would never fire or fire on nothing', () => {
    expect(() => synthesize({ context: { webhookSpoolOldestAgeAlarmMinutes: 0 } })).toThrow(
      /webhookSpoolOldestAgeAlarmMinutes/,
    );
    expect(() => synthesize({ context: { webhookSpoolDeadLettersAlarm: 0 } })).toThrow(
      /webhookSpoolDeadLettersAlarm/,
    );
  });
});
