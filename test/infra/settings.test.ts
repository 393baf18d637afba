// cdk.json context → typed settings, and what the settings change in the stack (prod stage, faster pace).
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { senderConcurrency } from '../../lib/constructs/message-sender.js';
import { readStackSettings, StackSettingsError } from '../../lib/stack-settings.js';
import { CDK_CONTEXT, synthesize } from './support.js';

const settingsFrom = (context: Record<string, unknown>) => readStackSettings(new App({ context }).node);

describe('stack settings', () => {
  it('reads cdk.json context, coercing `-c key=value` strings', () => {
    const settings = settingsFrom({ ...CDK_CONTEXT, twilioMessagesPerSecond: '3', monthlyBudgetUsd: '25.5' });
    expect(settings).toMatchObject({ stage: 'dev', twilioMessagesPerSecond: 3, monthlyBudgetUsd: 25.5 });
  });

  it('names every bad or missing key in one error', () => {
    const bad = {
      ...CDK_CONTEXT,
      stage: 'Prod!',
      alertEmail: undefined,
      twilioFromNumber: '555-0100',
      logRetentionDays: 31,
      dailyCron: 'rate(1 day)',
    };
    let error: unknown;
    try {
      settingsFrom(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StackSettingsError);
    const message = (error as Error).message;
    for (const key of ['stage', 'alertEmail', 'twilioFromNumber', 'logRetentionDays', 'dailyCron']) {
      expect(message).toContain(`${key}:`);
    }
    expect(message).toContain('alertEmail: expected an email address (missing)');
    expect(message).toContain('logRetentionDays: expected one of 1, 3, 5, 7, 14, 30');
  });

  it.each([
    [1, 5],
    [3, 15],
    [10, 50],
  ])('sizes sender concurrency for %i msg/s as %i', (perSecond, expected) => {
    expect(senderConcurrency(perSecond)).toBe(expected);
  });
});

describe('prod stage at 3 messages a second', () => {
  const template: Template = synthesize({
    context: { stage: 'prod', twilioMessagesPerSecond: 3 },
  }).template();

  it('turns on deletion protection and keeps a final snapshot', () => {
    template.hasResource('AWS::RDS::DBInstance', {
      Properties: { DeletionProtection: true, DBInstanceIdentifier: 'daily-positivity-prod' },
      DeletionPolicy: 'Snapshot',
    });
  });

  it('gives the sender reserved concurrency for the faster pace and tells the Lambdas the pace', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 15,
      Environment: {
        Variables: { TWILIO_MESSAGES_PER_SECOND: '3', POWERTOOLS_SERVICE_NAME: 'daily-positivity-sender' },
      },
    });
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'daily-positivity-prod' });
  });
});
