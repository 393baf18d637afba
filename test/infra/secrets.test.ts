// Secrets split per use: each Lambda is given, and may read, exactly the secrets it uses. lib/ takes them from
// src/config.ts's LAMBDA_NEEDS (the runtime's own table); this test holds the template to the contract as
// written out in test/fixtures/secret-contract.ts (test/unit/config.test.ts holds LAMBDA_NEEDS to it), so a
// wider grant in lib/ or in the table fails. The database password rotates by itself; no secret value is
// ever in a template.
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SecretKind } from '../../src/adapters/credentials.js';
import { CONFIG_NAMES } from '../../src/config.js';
import { STACK_INVENTORY } from '../../src/domain/capacity.js';
import { SECRET_CONTRACT } from '../fixtures/secret-contract.js';
import { logicalId, resources, synthesize } from './support.js';

let template: Template;
beforeAll(() => {
  template = synthesize().template();
});

const ENV: Record<SecretKind, string> = {
  db: 'DB_SECRET_ARN',
  twilio: 'TWILIO_SECRET_ARN',
  openai: 'OPENAI_SECRET_ARN',
  api: 'API_SECRET_ARN',
};

function secretRef(secret: SecretKind): { Ref: string } {
  if (secret === 'db')
    return { Ref: logicalId(template, 'AWS::SecretsManager::SecretTargetAttachment', 'DatabasePostgres') };
  const prefix = { twilio: 'SecretsTwilio', openai: 'SecretsOpenAi', api: 'SecretsApi' }[secret];
  return { Ref: logicalId(template, 'AWS::SecretsManager::Secret', prefix) };
}

/** Every Secrets Manager read the role of this function is allowed, as resources. */
function secretReads(roleId: string): unknown[] {
  return Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties?.Roles).includes(`"${roleId}"`))
    .flatMap(
      (p) =>
        (p.Properties?.PolicyDocument as { Statement?: Array<Record<string, unknown>> } | undefined)
          ?.Statement ?? [],
    )
    .filter((s) => [s.Action].flat().some((a) => String(a).startsWith('secretsmanager:')))
    .flatMap((s) => [s.Resource].flat());
}

/** Each deployed Lambda of ours by the name src/config.ts knows it by (from POWERTOOLS_SERVICE_NAME). */
function serviceFunctions(): Map<string, { vars: Record<string, unknown>; roleId: string }> {
  const found = new Map<string, { vars: Record<string, unknown>; roleId: string }>();
  for (const fn of Object.values(resources(template, 'AWS::Lambda::Function'))) {
    const vars =
      (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    const name = String(vars.POWERTOOLS_SERVICE_NAME ?? '').replace(/^daily-positivity-/, '');
    const role = fn.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
    if (name) found.set(name, { vars, roleId: String(role?.['Fn::GetAtt']?.[0]) });
  }
  return found;
}

describe('no function can read a secret it does not use', () => {
  it('deploys every Lambda of the contract, and no other that names itself as ours', () => {
    expect([...serviceFunctions().keys()].sort()).toEqual(Object.keys(SECRET_CONTRACT).sort());
  });

  it.each(Object.entries(SECRET_CONTRACT))('%s reads exactly %j', (name, uses) => {
    const fn = serviceFunctions().get(name);
    if (!fn) throw new Error(`${name} is not deployed`);
    const expected = uses.map(secretRef);
    expect(secretReads(fn.roleId)).toEqual(expect.arrayContaining(expected));
    expect(secretReads(fn.roleId)).toHaveLength(expected.length);
    const arnVariables = Object.entries(fn.vars).filter(([variable]) => variable.endsWith('_SECRET_ARN'));
    expect(Object.fromEntries(arnVariables)).toEqual(
      Object.fromEntries(uses.map((use) => [ENV[use], secretRef(use)])),
    );
  });

  it('gives every other role (egress probe, deploy trigger, NAT) no secret at all', () => {
    const appRoles = [...serviceFunctions().values()].map((f) => f.roleId);
    expect(appRoles).toHaveLength(Object.keys(SECRET_CONTRACT).length);
    const others = Object.keys(resources(template, 'AWS::IAM::Role')).filter((id) => !appRoles.includes(id));
    expect(others.length).toBeGreaterThan(3);
    for (const roleId of others) expect(secretReads(roleId), roleId).toEqual([]);
  });
});

describe('secret values', () => {
  it('never appear in a Lambda environment: only ARNs', () => {
    const secretNames = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'OPENAI_API_KEY', 'API_TOKEN'];
    for (const name of secretNames) expect(CONFIG_NAMES).toContain(name);
    for (const [id, fn] of Object.entries(resources(template, 'AWS::Lambda::Function'))) {
      const vars = (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      for (const name of secretNames) expect(Object.keys(vars ?? {}), id).not.toContain(name);
      const serialized = JSON.stringify(vars ?? {});
      expect(serialized, id).not.toContain('resolve:secretsmanager');
      expect(serialized, id).not.toContain('SecretString');
    }
  });

  it('creates the Twilio and OpenAI secrets with empty keys and generates API_TOKEN', () => {
    const props = (prefix: string) =>
      resources(template, 'AWS::SecretsManager::Secret')[
        logicalId(template, 'AWS::SecretsManager::Secret', prefix)
      ]?.Properties;
    expect(props('SecretsTwilio')).toMatchObject({
      Name: 'daily-positivity/dev/twilio',
      SecretString: JSON.stringify({ TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: '' }),
    });
    expect(props('SecretsOpenAi')).toMatchObject({
      Name: 'daily-positivity/dev/openai',
      SecretString: JSON.stringify({ OPENAI_API_KEY: '' }),
    });
    expect(props('SecretsApi')).toMatchObject({
      Name: 'daily-positivity/dev/api',
      GenerateSecretString: {
        SecretStringTemplate: '{}',
        GenerateStringKey: 'API_TOKEN',
        PasswordLength: 48,
      },
    });
  });

  it('holds as many secrets as the monthly cost estimate counts', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', STACK_INVENTORY.secrets);
  });

  it('outputs each secret’s ARN for the operator', () => {
    for (const output of ['TwilioSecretArn', 'OpenAiSecretArn', 'ApiSecretArn', 'DatabaseSecretArn'])
      expect(Object.keys(template.findOutputs(output)), output).toHaveLength(1);
  });
});

describe('database password rotation', () => {
  it('rotates the RDS secret every 30 days with Secrets Manager’s PostgreSQL single-user function', () => {
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: secretRef('db'),
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
      // Not during a deploy: a rotation racing the migration trigger could fail it.
      RotateImmediatelyOnUpdate: false,
    });
  });

  it('runs the rotation function in the app subnets (it calls Secrets Manager’s API through the NAT)', () => {
    const [app] = Object.values(resources(template, 'AWS::Serverless::Application'));
    const parameters = app?.Properties?.Parameters as Record<string, unknown>;
    const subnets = JSON.stringify(parameters.vpcSubnetIds);
    expect(subnets).toContain(logicalId(template, 'AWS::EC2::Subnet', 'NetworkVpcappSubnet1'));
    expect(subnets).toContain(logicalId(template, 'AWS::EC2::Subnet', 'NetworkVpcappSubnet2'));
  });
});
