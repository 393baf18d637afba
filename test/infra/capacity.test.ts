// Capacity at synth: reserved concurrency only where the account's quota allows it and never above what
// src/domain/capacity.ts says each function needs; RDS Proxy as a stage setting.
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { concurrencyPlan, LAMBDA_MIN_UNRESERVED } from '../../src/domain/capacity.js';
import { logicalId, PROD_CONTEXT, resources, synthesize } from './support.js';

/** Function logical-id prefix → the name the capacity plan uses. */
const FUNCTIONS = {
  SenderFunction: 'sender',
  WebhooksFunction: 'webhooks',
  PlannerFunction: 'planner',
  MigrationsMigrateFunction: 'migrate',
  JobsCleanupFunction: 'cleanup',
  JobsReconcileFunction: 'reconcile',
  JobsDailyReportFunction: 'daily-report',
} as const;

function reserved(template: Template): Record<string, number | undefined> {
  const all = resources(template, 'AWS::Lambda::Function');
  return Object.fromEntries(
    Object.entries(all).map(([id, fn]) => [
      id,
      fn.Properties?.ReservedConcurrentExecutions as number | undefined,
    ]),
  );
}

describe('a new account (quota 10): nothing reserved', () => {
  it('reserves no concurrency at all, since Lambda must keep 100 unreserved', () => {
    const template = synthesize().template();
    expect(Object.values(reserved(template)).filter((r) => r !== undefined)).toEqual([]);
  });
});

describe.each([
  [1000, 1],
  [1000, 3],
  [300, 10],
])('quota %i at %i msg/s', (quota, mps) => {
  const template = synthesize({
    context: {
      ...PROD_CONTEXT,
      lambdaConcurrencyQuota: quota,
      twilioMessagesPerSecond: mps,
      rdsProxy: mps > 3,
    },
  }).template();
  const plan = concurrencyPlan({ accountConcurrency: quota, messagesPerSecond: mps });

  it('reserves for every database client no more than the plan says it needs, within the quota', () => {
    expect(plan.mode).toBe('reserved');
    const all = reserved(template);
    let total = 0;
    for (const [prefix, name] of Object.entries(FUNCTIONS)) {
      const value = all[logicalId(template, 'AWS::Lambda::Function', prefix)];
      expect(value, prefix).toBeDefined();
      expect(value, prefix).toBeLessThanOrEqual(plan.need[name]);
      expect(value, prefix).toBeGreaterThanOrEqual(1);
      total += value ?? 0;
    }
    expect(total + LAMBDA_MIN_UNRESERVED).toBeLessThanOrEqual(quota);
    // Nothing else reserves (the probe and the deploy trigger never touch the database).
    expect(Object.values(all).filter((r) => r !== undefined)).toHaveLength(Object.keys(FUNCTIONS).length);
  });

  it('bounds the webhooks Lambda, paces the sender and lets the API take the pace’s callbacks', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: {
        ThrottlingRateLimit: Math.max(50, mps * 3 * 2),
        ThrottlingBurstLimit: Math.max(100, mps * 3 * 4),
      },
    });
    const all = reserved(template);
    expect(all[logicalId(template, 'AWS::Lambda::Function', 'WebhooksFunction')]).toBe(plan.need.webhooks);
    expect(all[logicalId(template, 'AWS::Lambda::Function', 'SenderFunction')]).toBe(Math.max(2, mps * 5));
  });

  it('reserves exactly the need DEPLOYMENT.md documents, written out here rather than read from the plan', () => {
    // DEPLOYMENT.md, "Reserved concurrency": sender ⌈msg/s × 5⌉ (at least 2), webhooks ⌈msg/s × 3 × 0.5⌉
    // (at least 5) plus 2 for the spool's consumer, every other database client 1 (one run at a time). Held
    // to the prose, so a larger need in src/domain/capacity.ts fails here too, not only a larger cap in lib/.
    const documented: Record<keyof typeof FUNCTIONS, number> = {
      SenderFunction: Math.max(2, Math.ceil(mps * 5)),
      WebhooksFunction: Math.max(5, Math.ceil(mps * 3 * 0.5)) + 2,
      PlannerFunction: 1,
      MigrationsMigrateFunction: 1,
      JobsCleanupFunction: 1,
      JobsReconcileFunction: 1,
      JobsDailyReportFunction: 1,
    };
    const all = reserved(template);
    const actual = Object.fromEntries(
      Object.keys(FUNCTIONS).map((prefix) => [
        prefix,
        all[logicalId(template, 'AWS::Lambda::Function', prefix)],
      ]),
    );
    expect(actual).toEqual(documented);
  });
});

describe('RDS Proxy as a stage setting', () => {
  const template = synthesize({
    context: { ...PROD_CONTEXT, twilioMessagesPerSecond: 10, rdsProxy: true },
  }).template();

  it('puts a TLS-only proxy in front of the database holding at most half its connections', () => {
    template.hasResourceProperties('AWS::RDS::DBProxy', { RequireTLS: true, EngineFamily: 'POSTGRESQL' });
    template.hasResourceProperties('AWS::RDS::DBProxyTargetGroup', {
      ConnectionPoolConfigurationInfo: { MaxConnectionsPercent: 50 },
    });
  });

  it('points every app Lambda at the proxy', () => {
    const proxy = logicalId(template, 'AWS::RDS::DBProxy', 'DatabasePostgresProxy');
    for (const prefix of Object.keys(FUNCTIONS)) {
      const fn = resources(template, 'AWS::Lambda::Function')[
        logicalId(template, 'AWS::Lambda::Function', prefix)
      ];
      expect(JSON.stringify(fn?.Properties?.Environment), prefix).toContain(
        JSON.stringify({ DATABASE_HOST: { 'Fn::GetAtt': [proxy, 'Endpoint'] } }).slice(1, -1),
      );
    }
  });

  it('admits the Lambdas to the proxy only, not to the database', () => {
    const lambdas = logicalId(template, 'AWS::EC2::SecurityGroup', 'NetworkLambdaSecurityGroup');
    const proxy = logicalId(template, 'AWS::EC2::SecurityGroup', 'DatabaseProxySecurityGroup');
    const ingress = Object.values(resources(template, 'AWS::EC2::SecurityGroupIngress')).map(
      (i) => i.Properties,
    );
    const from = (group: string) => JSON.stringify({ 'Fn::GetAtt': [group, 'GroupId'] });
    const lambdaRules = ingress.filter((i) => JSON.stringify(i?.SourceSecurityGroupId) === from(lambdas));
    expect(lambdaRules).toHaveLength(1);
    expect(JSON.stringify(lambdaRules[0]?.GroupId)).toBe(from(proxy));
  });

  it('has no proxy unless asked', () => {
    synthesize().template().resourceCountIs('AWS::RDS::DBProxy', 0);
  });
});
