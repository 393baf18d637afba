// What `cdk destroy` leaves behind and what two stages in one account and Region share: every named resource
// is deleted with its stack (so the stage can be deployed again at once) and is named per stage (so another
// stage can be created beside it).
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStackSettings, StackSettingsError } from '../../lib/stack-settings.js';
import { PROD_CONTEXT, resources, synthesize } from './support.js';

let dev: Template;
beforeAll(() => {
  dev = synthesize().template();
});

describe('log groups', () => {
  // Not the default (30), so a group that merely has CloudWatch's or aws-cdk-lib's default cannot pass.
  const days = 14;
  let t: Template;
  beforeAll(() => {
    t = synthesize({ context: { logRetentionDays: days } }).template();
  });
  const logGroups = () => resources(t, 'AWS::Logs::LogGroup');
  const expectStageGroup = (id: string | undefined, what: string) => {
    const group = id === undefined ? undefined : logGroups()[id];
    expect(group, `${what}: ${id}`).toBeDefined();
    expect(group?.Properties?.RetentionInDays, what).toBe(days);
    expect(group?.DeletionPolicy, what).toBe('Delete');
  };

  it('every Lambda of the template logs to a group of the stack, with the stage retention, deleted with it', () => {
    const functions = Object.entries(resources(t, 'AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThan(7);
    for (const [id, fn] of functions) {
      const ref = (fn.Properties?.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup
        ?.Ref;
      expectStageGroup(ref, id);
    }
  });

  /** The logical id of the log group a function's LoggingConfig names, if it names one of this template. */
  const logGroupOf = (fn: { Properties?: Record<string, unknown> } | undefined) =>
    (fn?.Properties?.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup?.Ref;

  it('the migration trigger runs only once its provider has a log group (Lambda would create one that never expires)', () => {
    const triggers = Object.values(resources(t, 'Custom::Trigger'));
    expect(triggers).toHaveLength(1);
    const token = triggers[0]?.Properties?.ServiceToken as { 'Fn::GetAtt': [string, string] } | undefined;
    const provider = resources(t, 'AWS::Lambda::Function')[token?.['Fn::GetAtt'][0] ?? ''];
    const group = logGroupOf(provider);
    expectStageGroup(group, 'trigger provider');
    expect(triggers[0]?.DependsOn).toContain(group);
  });

  it('creates the hosted password-rotation function’s log group before the application that creates the function', () => {
    const apps = Object.values(resources(t, 'AWS::Serverless::Application'));
    expect(apps).toHaveLength(1);
    const parameters = apps[0]?.Properties?.Parameters as { functionName?: string } | undefined;
    // A name of its own, per stage, that no earlier release used: Lambda has created no group under it yet.
    expect(parameters?.functionName).toBe('daily-positivity-dev-db-password-rotation');
    const [id] = Object.entries(logGroups()).find(
      ([, g]) => g.Properties?.LogGroupName === `/aws/lambda/${parameters?.functionName}`,
    ) ?? [undefined];
    expectStageGroup(id, 'rotation');
    expect(apps[0]?.DependsOn).toContain(id);
  });
});

describe('teardown', () => {
  it('deletes the schedule group, and with it its pending schedules, on stack delete and on replacement', () => {
    const groups = Object.values(resources(dev, 'AWS::Scheduler::ScheduleGroup'));
    expect(groups).toHaveLength(1);
    const [group] = groups;
    expect(group?.Properties?.Name).toBe('daily-positivity-dev');
    // CloudFormation's default when no policy is written is Delete.
    expect(group?.DeletionPolicy ?? 'Delete').toBe('Delete');
    expect(group?.UpdateReplacePolicy ?? 'Delete').toBe('Delete');
  });
});

/** CreateDBProxy's DBProxyName (also RDS's rule for DB instance identifiers, up to their 63 characters). */
const RDS_NAME = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$/;

describe('two stages in one account and Region', () => {
  const proxyName = (stage: string) => {
    const t = synthesize({ context: { ...PROD_CONTEXT, stage, rdsProxy: true } }).template();
    const proxies = Object.values(resources(t, 'AWS::RDS::DBProxy'));
    expect(proxies).toHaveLength(1);
    return proxies[0]?.Properties?.DBProxyName;
  };

  it('gives RDS Proxy a name of its stage (CreateDBProxy refuses a name the account already has in the Region)', () => {
    // The longest stage name the settings accept, too: the name must still fit.
    const names = ['staging', 'prod', 'p'.repeat(20)].map(proxyName);
    expect(names).toEqual([
      'daily-positivity-staging',
      'daily-positivity-prod',
      `daily-positivity-${'p'.repeat(20)}`,
    ]);
    for (const name of names) expect(name).toMatch(RDS_NAME);
  });

  it.each(['prod-', 'blue--green', '-prod', 'Prod', 'p'.repeat(21)])(
    'refuses stage %j, which would make an invalid RDS name',
    (stage) => {
      let problems: string[] = [];
      try {
        readStackSettings(new App({ context: { ...PROD_CONTEXT, stage } }).node);
      } catch (error) {
        if (!(error instanceof StackSettingsError)) throw error;
        problems = error.problems;
      }
      expect(problems.some((p) => p.startsWith('stage: '))).toBe(true);
    },
  );
});
