// The GitHub Actions workflows read as GitHub would run them (nothing here reaches GitHub): each file is valid
// YAML, every `${{ }}` names a context that exists where it is used, the Node matrix and the deploy's Node
// match package.json and the Lambdas, permissions are least privilege, actions are pinned to a commit, the
// deploy runs only what CI tested on main, and the deploy's settings are the ones DEPLOYMENT.md names.
// .ci/run and package-lock.json are checked beside them: CI starts with `npm ci`, which needs both.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { SETTING_KEYS } from '../../lib/stack-settings.js';
import {
  conditionExpression,
  contextPaths,
  embeddedExpressions,
  evaluate,
} from '../support/github-expressions.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML; each test checks the shape it reads
type Yaml = any;

const WORKFLOW_DIR = '.github/workflows';
const workflowFiles = readdirSync(WORKFLOW_DIR).filter((f) => /\.ya?ml$/.test(f));
const workflows: Record<string, Yaml> = Object.fromEntries(
  workflowFiles.map((file) => {
    const doc = parseDocument(readFileSync(path.join(WORKFLOW_DIR, file), 'utf8'), { uniqueKeys: true });
    return [file, { doc, value: doc.toJS() }];
  }),
);
const workflow = (file: string): Yaml => workflows[file]?.value;
const ci = () => workflow('ci.yml');
const deploy = () => workflow('deploy.yml');
const deployJob = () => deploy().jobs.deploy;
const deploymentMd = readFileSync('DEPLOYMENT.md', 'utf8');
const ciCdSection = deploymentMd.split('\n## CI/CD')[1]?.split('\n## ')[0] ?? '';
const packageJson = JSON.parse(readFileSync('package.json', 'utf8'));

/** Every string under `node`, with the key it sits under. */
function strings(node: Yaml, key = ''): { key: string; text: string }[] {
  if (typeof node === 'string') return [{ key, text: node }];
  if (Array.isArray(node)) return node.flatMap((item) => strings(item, key));
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => strings(v, k));
  return [];
}

/** Every expression GitHub evaluates under `node`: `${{ }}` anywhere, and `if:` values as a whole. */
function expressionsIn(node: Yaml): string[] {
  return strings(node).flatMap(({ key, text }) =>
    key === 'if' ? [conditionExpression(text)] : embeddedExpressions(text),
  );
}

/** Steps of every job, with the job's id. */
function allSteps(): { file: string; job: string; step: Yaml }[] {
  return Object.entries(workflows).flatMap(([file, { value }]) =>
    Object.entries(value.jobs as Record<string, Yaml>).flatMap(([job, body]) =>
      (body.steps ?? []).map((step: Yaml) => ({ file, job, step })),
    ),
  );
}

describe('.github/workflows', () => {
  it('every file is valid YAML with no duplicate keys, and a workflow: name, on, jobs', () => {
    expect(workflowFiles.sort()).toEqual(['ci.yml', 'deploy.yml']);
    for (const [file, { doc, value }] of Object.entries(workflows)) {
      expect(doc.errors.map(String), file).toEqual([]);
      expect(doc.warnings.map(String), file).toEqual([]);
      expect(Object.keys(value), file).toEqual(expect.arrayContaining(['name', 'on', 'jobs']));
    }
  });

  it('every expression parses and names only contexts that exist where it is used', () => {
    const contextsAnywhere = [
      'github',
      'vars',
      'secrets',
      'env',
      'inputs',
      'runner',
      'job',
      'steps',
      'needs',
    ];
    const problems: string[] = [];
    for (const [file, { value }] of Object.entries(workflows)) {
      const check = (expression: string, where: string, matrix: Record<string, unknown> | undefined) => {
        for (const [root, name] of contextPaths(expression)) {
          const known = root === 'matrix' ? matrix !== undefined : contextsAnywhere.includes(String(root));
          if (!known) problems.push(`${file} ${where}: ${root} is not available in ${expression}`);
          if (root === 'matrix' && matrix && !(String(name) in matrix))
            problems.push(`${file} ${where}: the matrix has no ${name}`);
        }
      };
      const { jobs, ...top } = value;
      for (const expression of expressionsIn(top)) check(expression, 'workflow level', undefined);
      for (const [id, job] of Object.entries(jobs as Record<string, Yaml>)) {
        for (const expression of expressionsIn(job)) check(expression, `job ${id}`, job.strategy?.matrix);
      }
    }
    expect(problems).toEqual([]);
  });

  it('uses only the variables and secrets DEPLOYMENT.md tells the operator to set', () => {
    const named = (root: string) =>
      new Set(
        Object.values(workflows).flatMap(({ value }) =>
          expressionsIn(value)
            .flatMap(contextPaths)
            .filter((p) => p[0] === root)
            .map((p) => String(p[1])),
        ),
      );
    const vars = [...named('vars')].sort();
    expect(vars.length).toBeGreaterThan(0);
    for (const name of vars) expect(ciCdSection, `vars.${name}`).toContain(`\`${name}\``);
    expect([...named('secrets')]).toEqual([]);
  });

  it('tests every Node.js major package.json admits up to the Lambdas’ runtime, which the deploy uses', () => {
    const lowest = Number(/^>=(\d+)$/.exec(packageJson.engines.node)?.[1]);
    const lambdaRuntime = Number(
      /Runtime\.NODEJS_(\d+)_X/.exec(readFileSync('lib/constructs/service-function.ts', 'utf8'))?.[1],
    );
    expect([lowest, lambdaRuntime]).toEqual([20, 22]);
    const matrix: number[] = ci().jobs.test.strategy.matrix.node.map(Number);
    for (let major = lowest; major <= lambdaRuntime; major += 2) expect(matrix).toContain(major);
    const deployNode = deployJob().steps.find((s: Yaml) => s.uses?.startsWith('actions/setup-node@'));
    expect(Number(deployNode.with['node-version'])).toBe(lambdaRuntime);
  });

  it('installs with `npm ci` and audits the production dependencies', () => {
    const runs = allSteps()
      .map(({ step }) => step.run as string | undefined)
      .filter(Boolean);
    expect(runs.some((r) => /\bnpm install\b/.test(r as string))).toBe(false);
    expect(ci().jobs.test.steps.map((s: Yaml) => s.run)).toEqual(
      expect.arrayContaining(['npm ci', 'npm test']),
    );
    expect(deployJob().steps.map((s: Yaml) => s.run)).toContain('npm ci');
    expect(Object.values(ci().jobs).flatMap((j: Yaml) => j.steps.map((s: Yaml) => s.run))).toContain(
      'npm audit --omit=dev --audit-level=high',
    );
  });

  it('grants least privilege: read-only contents, and an OIDC token only to the job that assumes the AWS role', () => {
    for (const [file, { value }] of Object.entries(workflows)) {
      expect(value.permissions, `${file} sets its permissions`).toBeDefined();
      const grants = [
        value.permissions,
        ...Object.values(value.jobs as Record<string, Yaml>).map((j) => j.permissions),
      ];
      for (const grant of grants.filter(Boolean)) {
        expect(typeof grant, `${file}: no write-all / read-all`).toBe('object');
        for (const [scope, level] of Object.entries(grant)) {
          if (level === 'write') expect(`${file} ${scope}`).toBe('deploy.yml id-token');
          else
            expect([`${file} ${scope}`, level]).toEqual([
              `${file} ${scope}`,
              scope === 'contents' ? 'read' : 'none',
            ]);
        }
      }
    }
    // deploy.yml has one job, the one that calls configure-aws-credentials.
    expect(Object.keys(deploy().jobs)).toEqual(['deploy']);
    expect(
      deployJob().steps.some((s: Yaml) => s.uses?.startsWith('aws-actions/configure-aws-credentials@')),
    ).toBe(true);
  });

  it('pins every action to a full commit SHA (a tag can be moved to other code)', () => {
    const unpinned = allSteps()
      .filter(({ step }) => step.uses && !/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(step.uses))
      .map(({ file, step }) => `${file}: ${step.uses}`);
    expect(unpinned).toEqual([]);
    // …with the release it is, for the reader and for Dependabot.
    for (const file of workflowFiles) {
      const lines = readFileSync(path.join(WORKFLOW_DIR, file), 'utf8').split('\n');
      for (const line of lines.filter((l) => /\buses:/.test(l)))
        expect(line).toMatch(/@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    }
  });

  it('puts no expression inside a run script: values reach the shell as environment variables', () => {
    const injected = allSteps()
      .filter(({ step }) => typeof step.run === 'string' && embeddedExpressions(step.run).length > 0)
      .map(({ file, job, step }) => `${file} ${job}: ${step.name ?? step.run}`);
    expect(injected).toEqual([]);
  });

  describe('deploy.yml', () => {
    it('follows the workflow named ci, one deploy at a time, never cancelled midway, in the production environment', () => {
      expect(deploy().on.workflow_run).toMatchObject({ workflows: [ci().name], types: ['completed'] });
      expect(deploy().concurrency).toEqual({ group: expect.any(String), 'cancel-in-progress': false });
      expect(embeddedExpressions(deploy().concurrency.group)).toEqual([]);
      expect(deployJob().environment).toBe('production');
    });

    // The `branches: [main]` filter of workflow_run matches the head branch of CI's run, and a pull request
    // from a fork whose branch is called main has that head branch: its CI run passing would deploy the
    // fork's commit (checked out by head_sha) with the production role.
    const push = {
      event: 'push',
      conclusion: 'success',
      head_branch: 'main',
      head_sha: 'a'.repeat(40),
      head_repository: { full_name: 'owner/repo' },
    };
    it.each([
      ['CI passed on a push to main', true, 'workflow_run', 'refs/heads/main', push],
      ['CI failed on main', false, 'workflow_run', 'refs/heads/main', { ...push, conclusion: 'failure' }],
      [
        "CI passed on a fork's pull request from its branch main",
        false,
        'workflow_run',
        'refs/heads/main',
        { ...push, event: 'pull_request', head_repository: { full_name: 'stranger/repo' } },
      ],
      [
        'CI passed on a pull request from this repository',
        false,
        'workflow_run',
        'refs/heads/main',
        { ...push, event: 'pull_request', head_branch: 'feature' },
      ],
      ['dispatched by hand on main', true, 'workflow_dispatch', 'refs/heads/main', undefined],
      [
        'dispatched by hand on another branch',
        false,
        'workflow_dispatch',
        'refs/heads/experiment',
        undefined,
      ],
    ])('%s → deploys: %s', (_case, deploys, eventName, ref, run) => {
      const github = {
        event_name: eventName,
        ref,
        repository: 'owner/repo',
        sha: 'b'.repeat(40),
        event: run ? { workflow_run: run } : {},
      };
      // GitHub starts the workflow only for a CI run whose head branch passes the trigger's filter.
      const branches: string[] | undefined = deploy().on.workflow_run.branches;
      const triggered = !run || !branches || branches.includes(run.head_branch);
      const runs = triggered && Boolean(evaluate(conditionExpression(deployJob().if), { github }));
      expect(runs).toBe(deploys);
    });

    it('checks out the commit CI tested', () => {
      const checkout = deployJob().steps.find((s: Yaml) => s.uses?.startsWith('actions/checkout@'));
      const [ref] = embeddedExpressions(checkout.with.ref);
      const github = { sha: 'b'.repeat(40), event: { workflow_run: { head_sha: 'a'.repeat(40) } } };
      expect(evaluate(ref as string, { github })).toBe('a'.repeat(40));
    });

    it('runs `cdk deploy` as DEPLOYMENT.md says, each variable a stack setting of the same name', () => {
      const step = deployJob().steps.find((s: Yaml) => /cdk deploy/.test(s.run ?? ''));
      const command: string = step.run;
      expect(command).toMatch(/^npx cdk deploy --require-approval never /);
      expect(ciCdSection).toContain('npx cdk deploy --require-approval never');
      // -c key="$VAR": the key is a setting (or the stage) and VAR its SCREAMING_SNAKE name, set from vars.VAR.
      const passed = [...command.matchAll(/-c (\w+)="\$(\w+)"/g)].map(
        (m) => [m[1], m[2]] as [string, string],
      );
      expect(passed.length).toBe(command.match(/-c /g)?.length);
      const screaming = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
      for (const [key, variable] of passed) {
        expect([...SETTING_KEYS, 'stage'], key).toContain(key);
        expect(variable).toBe(screaming(key));
        expect(embeddedExpressions(step.env[variable]).flatMap(contextPaths)[0], variable).toEqual([
          'vars',
          variable,
        ]);
      }
      const role = deployJob().steps.find((s: Yaml) =>
        s.uses?.startsWith('aws-actions/configure-aws-credentials@'),
      );
      expect(embeddedExpressions(role.with['role-to-assume'])).toEqual(['vars.AWS_DEPLOY_ROLE_ARN']);
    });
  });
});

// The reader the tests above rely on (test/support/github-expressions.ts), against GitHub's documented rules.
describe('GitHub expressions as the tests read them', () => {
  const github = { event_name: 'push', event: { workflow_run: null }, ref: 'refs/heads/main' };
  it.each([
    ["github.event_name == 'PUSH'", true], // strings compare ignoring case
    ["github.event_name != 'push'", false],
    ['github.event.workflow_run.head_sha', null], // a missing property is null, not an error
    ["github.event.workflow_run.head_sha || 'fallback'", 'fallback'], // || returns an operand
    ["github.event_name == 'push' && github.ref", 'refs/heads/main'],
    ["!(github.event_name == 'push')", false],
    ["github['ref'] == 'refs/heads/main'", true],
    ['1 == true', true],
  ])('%s → %j', (expression, expected) => {
    expect(evaluate(expression, { github })).toEqual(expected);
  });

  it('names the contexts an expression reads, and refuses what it cannot evaluate', () => {
    expect(contextPaths("matrix.node == 22 && vars.STAGE || 'prod'")).toEqual([
      ['matrix', 'node'],
      ['vars', 'STAGE'],
    ]);
    expect(() => evaluate("contains(github.ref, 'main')", { github })).toThrow(/not supported/);
    expect(() => evaluate('github.ref ==', { github })).toThrow(SyntaxError);
  });
});

describe('.ci/run and the lockfile', () => {
  it('.ci/run installs from the lockfile and runs exactly the README test command', () => {
    const script = readFileSync('.ci/run', 'utf8');
    expect(script).toMatch(/^npm ci\b/m);
    expect(script).toMatch(/^npm test \|\| status=\$\?$/m);
    expect(readFileSync('README.md', 'utf8')).toContain('npm ci && npm test');
  });

  it('package-lock.json is in step with package.json, as `npm ci` requires', () => {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
    const root = lock.packages[''];
    expect(lock.lockfileVersion).toBe(3);
    expect(root.dependencies).toEqual(packageJson.dependencies);
    expect(root.devDependencies).toEqual(packageJson.devDependencies);
    expect(root.engines).toEqual(packageJson.engines);
    for (const name of [
      ...Object.keys(packageJson.dependencies),
      ...Object.keys(packageJson.devDependencies),
    ])
      expect(lock.packages[`node_modules/${name}`]?.version, name).toBeDefined();
  });
});
