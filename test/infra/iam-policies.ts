// Reads IAM policy statements out of a synthesized template, for the tests that hold them to AWS's
// Service Authorization Reference (iam-actions.test.ts) and to the calls each Lambda's code makes
// (lambda-calls.test.ts).

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
export interface PolicyTemplate {
  Resources: Record<string, Resource>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every statement of every policy document in the template, wherever it sits (identity policies, roles'
 * trust and inline policies, resource policies of topics, queues and secrets…), with where it is.
 */
export function* policyStatements(template: PolicyTemplate): Generator<[Statement, string]> {
  function* walk(node: unknown, at: string): Generator<[Statement, string]> {
    if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) yield* walk(v, `${at}[${i}]`);
    } else if (isObject(node)) {
      if (Array.isArray(node.Statement)) {
        for (const [i, s] of node.Statement.entries()) yield [s as Statement, `${at}.Statement[${i}]`];
      }
      for (const [k, v] of Object.entries(node)) yield* walk(v, `${at}.${k}`);
    }
  }
  for (const [id, r] of Object.entries(template.Resources)) yield* walk(r.Properties, `${id} (${r.Type})`);
}

/** `Action` of statements and of AWS::Lambda::Permission (a resource policy statement in all but name). */
export function* policyActions(template: PolicyTemplate): Generator<[string, string]> {
  for (const [s, at] of policyStatements(template))
    for (const action of [s.Action ?? [], s.NotAction ?? []].flat()) yield [action, at];
  for (const [id, r] of Object.entries(template.Resources))
    if (r.Type === 'AWS::Lambda::Permission') yield [String(r.Properties?.Action), `${id} (${r.Type})`];
}

/** An IAM action pattern (`sqs:Send*`, `s3:Get?bject`) as IAM matches it: whole, case-insensitive. */
export function actionPattern(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

/** Statements of the policies attached to role `roleId`: its inline Policies and every AWS::IAM::Policy naming it. */
export function roleStatements(template: PolicyTemplate, roleId: string): Statement[] {
  const documents: unknown[] = [];
  const role = template.Resources[roleId];
  for (const p of (role?.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? [])
    documents.push(p.PolicyDocument);
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (r.Properties?.Roles as unknown[] | undefined) ?? [];
    if (roles.some((ref) => isObject(ref) && ref.Ref === roleId))
      documents.push(r.Properties?.PolicyDocument);
  }
  return documents.flatMap((d) => (d as { Statement: Statement[] }).Statement);
}

/** Whether an Allow statement among `statements` grants `action` on `resource` (or on any, when undefined). */
export function allows(statements: Statement[], action: string, resource?: unknown): boolean {
  return statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      [s.Action ?? []].flat().some((a) => actionPattern(a).test(action)) &&
      (resource === undefined ||
        [s.Resource].flat().some((r) => r === '*' || JSON.stringify(r) === JSON.stringify(resource))),
  );
}
