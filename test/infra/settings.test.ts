// Per-stage settings (config/<stage>.json + `-c key=value`) → one typed object, and what they change in the
// stack. Every bad value is named in one error; a stage other than dev must have a real sender.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import {
  LAMBDA_ENVIRONMENT,
  LOG_RETENTION_DAYS,
  loadStackSettings,
  readStackSettings,
  SETTING_KEYS,
  StackSettingsError,
} from '../../lib/stack-settings.js';
import { DEV_SETTINGS, PROD_CONTEXT, resources, synthesize } from './support.js';

const settingsFrom = (context: Record<string, unknown>) => readStackSettings(new App({ context }).node);

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof StackSettingsError) return error.problems;
    throw error;
  }
  throw new Error('expected a StackSettingsError');
}

function configDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'positivity-config-'));
  for (const [name, body] of Object.entries(files))
    writeFileSync(path.join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  return dir;
}

describe('reading a stage', () => {
  it('reads config/<stage>.json, then `-c key=value` on top, coercing strings', () => {
    const settings = settingsFrom({ stage: 'dev', twilioMessagesPerSecond: '2', monthlyBudgetUsd: '25.5' });
    expect(settings).toMatchObject({
      stage: 'dev',
      monthlyBudgetUsd: 25.5,
      alertEmail: DEV_SETTINGS.alertEmail,
    });
    expect(settings.runtime.TWILIO_MESSAGES_PER_SECOND).toBe(2);
    expect(settings.lambdaEnvironment.TWILIO_MESSAGES_PER_SECOND).toBe('2');
  });

  it('treats an empty `-c` value as not given (GitHub variables that are unset)', () => {
    const settings = settingsFrom({ stage: 'dev', twilioFromNumber: '', monthlyBudgetUsd: '' });
    expect(settings.lambdaEnvironment.TWILIO_FROM_NUMBER).toBe(DEV_SETTINGS.twilioFromNumber);
    expect(settings.monthlyBudgetUsd).toBe(DEV_SETTINGS.monthlyBudgetUsd);
  });

  it('names every bad, unknown or missing value in one error', () => {
    const dir = configDir({
      'staging.json': {
        stage: 'other',
        alertEmail: 'not-an-email',
        twilioFromNumber: '555-0100',
        openaiModel: 'claude-3',
        logRetentionDays: 31,
        dailyCron: 'rate(1 day)',
        sendWindowStart: '18:00',
        databaseInstanceType: 't2.micro',
        twilioMesagesPerSecond: 3,
      },
    });
    const problems = problemsOf(() => loadStackSettings({ stage: 'staging', configDir: dir }));
    const text = problems.join('\n');
    expect(text).toContain('staging.json: "stage" comes from the file name');
    expect(text).toContain('twilioMesagesPerSecond: not a setting');
    expect(text).toContain('alertEmail: expected an email address (got "not-an-email")');
    expect(text).toContain('logRetentionDays: expected one of 1, 3, 5, 7, 14, 30');
    expect(text).toContain('dailyCron: expected cron(');
    expect(text).toContain('databaseInstanceType:');
    // Checked by the Lambdas' own validator (src/config.ts), named by setting and by variable.
    expect(text).toContain('twilioFromNumber (TWILIO_FROM_NUMBER): expected an E.164 number');
    expect(text).toContain('openaiModel (OPENAI_MODEL): expected a GPT-4-family model');
    expect(text).toContain('sendWindowEnd (SEND_WINDOW_END): must be later than SEND_WINDOW_START');
    // …and the non-dev rules, reported together with the rest.
    expect(text).toContain('helpContact: stage staging must say where HELP replies send people');
    expect(text).toContain('natImageId: stage staging pins the NAT instance');
  });

  it('refuses a file that is not JSON, by name', () => {
    const dir = configDir({ 'qa.json': '{ "alertEmail": ' });
    expect(problemsOf(() => loadStackSettings({ stage: 'qa', configDir: dir }))[0]).toMatch(
      /^qa\.json: not valid JSON/,
    );
  });

  // `cdk synth -c stage=prdo` listed missing keys but never said config/prdo.json does not exist, and a
  // stage name such as ../package was read as a path (review 6, D3).
  it('names a missing config/<stage>.json when the stage does not synth, and never reads outside config/', () => {
    const dir = configDir({});
    expect(() => loadStackSettings({ stage: 'prdo', configDir: dir })).toThrow(
      /^Invalid settings for stage prdo \(config\/prdo\.json does not exist/,
    );
    const problems = problemsOf(() => loadStackSettings({ stage: '../package', configDir: dir }));
    expect(problems.some((p) => p.startsWith('stage: expected lower-case'))).toBe(true);
    expect(problems.some((p) => p.includes('not a setting'))).toBe(false);
  });

  it('keeps LOG_RETENTION_DAYS in step with CloudWatch’s retention values', () => {
    // INFINITE (9999 in aws-cdk-lib) is deliberately not offered: every log group here expires.
    const cdk = Object.values(RetentionDays).filter(
      (d): d is number => typeof d === 'number' && d > 0 && d !== RetentionDays.INFINITE,
    );
    expect([...LOG_RETENTION_DAYS].sort((a, b) => a - b)).toEqual(cdk.sort((a, b) => a - b));
  });

  it('documents every setting in DEPLOYMENT.md', () => {
    const doc = readFileSync(new URL('../../DEPLOYMENT.md', import.meta.url), 'utf8');
    for (const key of SETTING_KEYS.filter((k) => k !== 'stage')) expect(doc, key).toContain(`\`${key}\``);
  });

  it('maps only settings that exist to variables the Lambdas read', () => {
    for (const key of Object.keys(LAMBDA_ENVIRONMENT)) expect(SETTING_KEYS).toContain(key);
  });
});

describe('the status-callbacks-silent threshold', () => {
  it('defaults to 10 sends an hour and takes a whole number from the stage', () => {
    expect(settingsFrom({ stage: 'dev' })).toMatchObject({ statusCallbacksSilentSendsPerHour: 10 });
    expect(settingsFrom({ stage: 'dev', statusCallbacksSilentSendsPerHour: '25' })).toMatchObject({
      statusCallbacksSilentSendsPerHour: 25,
    });
  });

  it.each([0, -5, 2.5, 'many'])('refuses %j, by name', (value) => {
    const problems = problemsOf(() =>
      settingsFrom({ stage: 'dev', statusCallbacksSilentSendsPerHour: value }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^statusCallbacksSilentSendsPerHour: /);
    expect(problems[0]).not.toContain('not a setting');
  });

  it('refuses more sends an hour than the send pace allows: the alarm could never fire', () => {
    // dev sends at 1 msg/s: 3,600 an hour at most.
    expect(settingsFrom({ stage: 'dev', statusCallbacksSilentSendsPerHour: 3600 })).toMatchObject({
      statusCallbacksSilentSendsPerHour: 3600,
    });
    const problems = problemsOf(() =>
      settingsFrom({ stage: 'dev', statusCallbacksSilentSendsPerHour: 3601 }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^statusCallbacksSilentSendsPerHour: .*3,600 .*twilioMessagesPerSecond/),
    ]);
  });
});

describe('a non-dev stage has a real sender', () => {
  it.each([
    [{}, /^twilioFromNumber \/ twilioMessagingServiceSid: stage prod needs a real sender/],
    [{ twilioFromNumber: '+15005550006' }, /^twilioFromNumber: \+15005550006 is a Twilio test number/],
  ])('refuses %j', (sender, message) => {
    const context = { ...PROD_CONTEXT, twilioMessagingServiceSid: '', twilioFromNumber: '', ...sender };
    const problems = problemsOf(() => settingsFrom(context));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it.each([
    [
      { twilioFromNumber: '+14155550100', twilioMessagingServiceSid: '' },
      'TWILIO_FROM_NUMBER',
      '+14155550100',
    ],
    [{}, 'TWILIO_MESSAGING_SERVICE_SID', PROD_CONTEXT.twilioMessagingServiceSid],
  ])('accepts %j and gives it to the Lambdas', (sender, name, value) => {
    expect(settingsFrom({ ...PROD_CONTEXT, ...sender }).lambdaEnvironment[name]).toBe(value);
  });

  it('lets dev keep Twilio’s test number', () => {
    expect(settingsFrom({ stage: 'dev' }).lambdaEnvironment.TWILIO_FROM_NUMBER).toBe('+15005550006');
  });

  it('refuses placeholder contacts outside dev', () => {
    const problems = problemsOf(() =>
      settingsFrom({ ...PROD_CONTEXT, alertEmail: 'ops@example.com', helpContact: 'support@example.com' }),
    );
    expect(problems.map((p) => p.split(':')[0])).toEqual(['alertEmail', 'helpContact']);
  });
});

describe('capacity is checked at synth', () => {
  it('refuses a pace a new account cannot run, naming the quota to request', () => {
    const [problem] = problemsOf(() => settingsFrom({ stage: 'dev', twilioMessagesPerSecond: 3 }));
    expect(problem).toMatch(/^lambdaConcurrencyQuota: twilioMessagesPerSecond 3 needs 15 concurrent senders/);
  });

  it('reports capacity together with every other problem', () => {
    const problems = problemsOf(() => settingsFrom({ stage: 'prod', twilioMessagesPerSecond: 3 }));
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'alertEmail',
      'twilioFromNumber / twilioMessagingServiceSid',
      'helpContact',
      'natImageId',
      'lambdaConcurrencyQuota',
    ]);
  });

  it('refuses worst-case connections above the safe share of max_connections, naming the fixes', () => {
    const [problem] = problemsOf(() => settingsFrom({ ...PROD_CONTEXT, twilioMessagesPerSecond: 10 }));
    expect(problem).toMatch(/^databaseInstanceType: worst case \d+ Postgres connections/);
    expect(problem).toContain('rdsProxy: true');
    expect(problem).toMatch(/databaseInstanceType t4g\.\w+ \(safe \d+\)/);
    expect(() =>
      settingsFrom({ ...PROD_CONTEXT, twilioMessagesPerSecond: 10, rdsProxy: 'true' }),
    ).not.toThrow();
  });
});

describe('every operator setting reaches the Lambdas as plain environment', () => {
  const context = {
    ...PROD_CONTEXT,
    twilioMessagesPerSecond: 3,
    twilioMessagesPerDay: 5000,
    serviceName: 'Kind Words',
    openaiModel: 'gpt-4o',
    openaiTokensPerMinute: 200_000,
    openaiRequestsPerMinute: 500,
    dailyCostLimitUsd: 60,
    retentionDays: 30,
    pendingExpiryDays: 14,
    sendWindowStart: '13:00',
    sendWindowEnd: '16:30',
    defaultTimeZone: 'America/Chicago',
  };
  const template: Template = synthesize({ context }).template();
  const functions = Object.entries(resources(template, 'AWS::Lambda::Function')).filter(([, fn]) =>
    String(JSON.stringify(fn.Properties?.Environment)).includes('DB_SECRET_ARN'),
  );

  it('gives every app Lambda the same values', () => {
    expect(functions).toHaveLength(7);
    for (const [id, fn] of functions) {
      const vars =
        (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      expect(vars, id).toMatchObject({
        TWILIO_MESSAGING_SERVICE_SID: PROD_CONTEXT.twilioMessagingServiceSid,
        TWILIO_MESSAGES_PER_SECOND: '3',
        TWILIO_MESSAGES_PER_DAY: '5000',
        SERVICE_NAME: 'Kind Words',
        HELP_CONTACT: PROD_CONTEXT.helpContact,
        OPENAI_MODEL: 'gpt-4o',
        OPENAI_TOKENS_PER_MIN: '200000',
        OPENAI_REQUESTS_PER_MIN: '500',
        DAILY_COST_LIMIT_USD: '60',
        RETENTION_DAYS: '30',
        PENDING_EXPIRY_DAYS: '14',
        SEND_WINDOW_START: '13:00',
        SEND_WINDOW_END: '16:30',
        DEFAULT_TIMEZONE: 'America/Chicago',
      });
      expect(vars, id).not.toHaveProperty('TWILIO_FROM_NUMBER');
      // CDK-only settings stay in CDK.
      for (const value of Object.values(vars)) expect(value).not.toBe(PROD_CONTEXT.alertEmail);
    }
  });

  it('turns on deletion protection and keeps a final snapshot in prod', () => {
    template.hasResource('AWS::RDS::DBInstance', {
      Properties: { DeletionProtection: true, DBInstanceIdentifier: 'daily-positivity-prod' },
      DeletionPolicy: 'Snapshot',
    });
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'daily-positivity-prod' });
  });
});
