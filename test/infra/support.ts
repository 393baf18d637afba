// Synthesizes the stack for infra tests: the dev stage's settings (config/dev.json, plus context overrides),
// no Lambda bundling, a temp output directory. Built-in CloudFormation validation and cdk-nag are opt-in
// because they cost seconds.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PositivityStack } from '../../lib/positivity-stack.js';
import { readStackSettings } from '../../lib/stack-settings.js';

/** The dev stage's settings as written in config/dev.json (what the tests' default synth uses). */
export const DEV_SETTINGS: Record<string, unknown> = {
  stage: 'dev',
  ...JSON.parse(readFileSync(new URL('../../config/dev.json', import.meta.url), 'utf8')),
};

/** A complete production stage: a real sender, help contact and inbox, a pinned NAT image, a raised quota. */
export const PROD_CONTEXT = {
  stage: 'prod',
  alertEmail: 'oncall@positivity.dev',
  helpContact: 'help@positivity.dev',
  twilioFromNumber: '',
  twilioMessagingServiceSid: `MG${'0123456789abcdef'.repeat(2)}`,
  natImageId: 'ami-0123456789abcdef0',
  lambdaConcurrencyQuota: 1000,
} as const;

/**
 * Contexts whose templates together hold every resource the stack can make: dev (config/dev.json), prod,
 * and the optional parts (RDS Proxy, a NAT gateway) the other two leave out.
 */
export const TEMPLATE_VARIANTS = {
  dev: {},
  prod: PROD_CONTEXT,
  'rds-proxy, nat-gateway': { rdsProxy: true, egress: 'nat-gateway' },
} as const;

export interface SynthOptions {
  context?: Record<string, unknown>;
  nag?: boolean;
  cloudFormationValidation?: boolean;
}

export function synthesize(options: SynthOptions = {}) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'positivity-cdk-'));
  const app = new App({
    context: { stage: 'dev', ...options.context, 'aws:cdk:bundling-stacks': [] },
    outdir,
    builtinCloudFormationValidation: options.cloudFormationValidation ?? false,
  });
  const stack = new PositivityStack(app, 'Positivity', { settings: readStackSettings(app.node) });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, outdir, template: () => Template.fromStack(stack) };
}

type Resources = Record<
  string,
  {
    Type: string;
    Properties?: Record<string, unknown>;
    DependsOn?: string[];
    DeletionPolicy?: string;
    UpdateReplacePolicy?: string;
  }
>;

/** Logical id of the single resource of `type` whose id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0] as string;
}

export function resources(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}
