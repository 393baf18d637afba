// cdk-nag AwsSolutionsChecks over the whole stack, as `cdk synth` runs it: zero unacknowledged findings, and
// every acknowledgement gives a specific reason. (aws-cdk-lib's built-in CloudFormation schema validation is
// left to the `cdk synth` CI step: its WebAssembly start-up alone costs ~20 s here.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { describe, expect, it, vi } from 'vitest';
import { PROD_CONTEXT, synthesize } from './support.js';

interface Report {
  pluginReports: Array<{
    pluginName: string;
    violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }>;
  }>;
}

function violations(outdir: string): string[] {
  const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as Report;
  return report.pluginReports.flatMap((p) =>
    p.violations.flatMap((v) =>
      v.violatingConstructs.map((c) => `${p.pluginName}: ${v.ruleName} ${c.constructPath}`),
    ),
  );
}

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: c.node.path,
          id,
          reason,
        })),
      ),
  );
}

function synthWithNag(context: Record<string, unknown>, addViolation = false) {
  const synth = synthesize({ context, nag: true });
  if (addViolation) new sqs.Queue(synth.stack as Stack, 'UnacknowledgedQueue');
  let error: unknown;
  try {
    synth.app.synth();
  } catch (e) {
    error = e;
  }
  return { ...synth, error, violations: () => violations(synth.outdir) };
}

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['dev', {}],
    ['prod', PROD_CONTEXT],
    ['nat-gateway + RDS Proxy', { ...PROD_CONTEXT, stage: 'staging', egress: 'nat-gateway', rdsProxy: true }],
  ])('finds nothing unacknowledged in the %s stage', (_name, context) => {
    const stage = (context as { stage?: string }).stage ?? 'dev';
    const run = synthWithNag(context);
    expect(run.violations()).toEqual([]);
    expect(run.error).toBeUndefined();

    // Ours only: aws-cdk-lib acknowledges some of its own CloudFormation-Validate warnings.
    const acks = acknowledgements(run.app).filter((a) => a.id.includes('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(5);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^(Annotation::)?AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      // A specific reason: a sentence about this resource, not "n/a" or "not needed".
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(50);
    }
    // Deletion protection is on in prod, so its acknowledgement must not be.
    expect(acks.some((a) => a.id.endsWith('AwsSolutions-RDS10'))).toBe(stage !== 'prod');
  });

  it('fails synthesis on an unacknowledged finding (the check can fail)', () => {
    const run = synthWithNag({}, true);
    expect(run.error).toBeDefined();
    expect(run.violations().join('\n')).toMatch(/AwsSolutions-SQS3 .*UnacknowledgedQueue/);
  });
});

describe('acknowledgements', () => {
  it('each one answers a finding that appears without it (none is stale)', () => {
    const acknowledged = acknowledgements(synthesize({ nag: true }).app).filter((a) =>
      a.id.includes('AwsSolutions-'),
    );
    expect(acknowledged.length).toBeGreaterThan(20);
    const silence = vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => {});
    try {
      const run = synthWithNag({});
      expect(run.error).toBeDefined();
      const found = run.violations();
      for (const ack of acknowledged) {
        const rule = ack.id.replace(/^Annotation::/, '');
        const hit = found.some((f) => f.startsWith(`AwsSolutions: ${rule} ${ack.path}/`));
        expect(hit, `${ack.path} ${rule}`).toBe(true);
      }
    } finally {
      silence.mockRestore();
    }
  });
});
