// The Lambdas' way to the internet: a hardened NAT instance (or a NAT gateway by stage setting), and the
// probe that pages when it stops working.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EGRESS_PROBE_SOURCE } from '../../lib/constructs/egress-probe.js';
import { NAT_SETUP_SCRIPT } from '../../lib/constructs/nat-instance.js';
import { AL2023_ARM64_PARAMETER } from '../../lib/stack-settings.js';
import { EGRESS_PROBE_MINUTES } from '../../src/domain/capacity.js';
import { logicalId, PROD_CONTEXT, resources, synthesize } from './support.js';

let dev: Template;
let prod: Template;
beforeAll(() => {
  dev = synthesize().template();
  prod = synthesize({ context: PROD_CONTEXT }).template();
});

const natInstance = (template: Template) => {
  const instances = Object.values(resources(template, 'AWS::EC2::Instance'));
  expect(instances).toHaveLength(1);
  return instances[0]?.Properties ?? {};
};

describe('NAT instance', () => {
  it('is one t4g.nano forwarding for the app subnets, and no NAT gateway', () => {
    dev.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(natInstance(dev)).toMatchObject({ InstanceType: 't4g.nano', SourceDestCheck: false });
    const instanceId = logicalId(dev, 'AWS::EC2::Instance', 'NetworkVpcpublicSubnet1NatInstance');
    for (const subnet of ['NetworkVpcappSubnet1', 'NetworkVpcappSubnet2'])
      dev.hasResourceProperties('AWS::EC2::Route', {
        RouteTableId: { Ref: logicalId(dev, 'AWS::EC2::RouteTable', `${subnet}RouteTable`) },
        DestinationCidrBlock: '0.0.0.0/0',
        InstanceId: { Ref: instanceId },
      });
  });

  it('requires IMDSv2, encrypts its root volume and is managed through Systems Manager', () => {
    const props = natInstance(dev);
    expect(props.MetadataOptions).toMatchObject({ HttpTokens: 'required' });
    expect(props.BlockDeviceMappings).toEqual([
      {
        DeviceName: '/dev/xvda',
        Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 8, DeleteOnTermination: true },
      },
    ]);
    const role = Object.values(resources(dev, 'AWS::IAM::Role')).find((r) =>
      JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'),
    );
    expect(JSON.stringify(role?.Properties?.ManagedPolicyArns)).toContain('AmazonSSMManagedInstanceCore');
    expect(props.KeyName).toBeUndefined();
  });

  it('pins its image outside dev: the literal natImageId, so a new Amazon Linux release changes nothing', () => {
    expect(natInstance(prod).ImageId).toBe(PROD_CONTEXT.natImageId);
    // dev without natImageId follows the public parameter, resolved at deploy time.
    expect(JSON.stringify(natInstance(dev).ImageId)).toMatch(/^\{"Ref":"SsmParameterValue/);
    expect(JSON.stringify(dev.toJSON().Parameters)).toContain(AL2023_ARM64_PARAMETER);
  });

  it('boots with our setup script, whose package install retries', () => {
    const userData = natInstance(dev).UserData as { 'Fn::Base64': string };
    expect(userData['Fn::Base64']).toBe(NAT_SETUP_SCRIPT);
    const install = NAT_SETUP_SCRIPT.match(
      /^\s*rpm -q iptables-services .*\|\| retry (\d+) dnf install -y iptables-services/m,
    );
    expect(install, 'the install line runs through retry').not.toBeNull();
    // `retry 1` is one attempt: no retry at all.
    expect(Number(install?.[1])).toBeGreaterThan(1);
    // A failed setup is retried by systemd too, and re-run at every boot.
    expect(NAT_SETUP_SCRIPT).toContain('Restart=on-failure');
    expect(NAT_SETUP_SCRIPT).toContain('systemctl enable nat-setup.service');
  });

  it('carries a hash of its user data in its logical id, so a changed script replaces the instance', () => {
    // (cloud-init runs user data on an instance's first boot only)
    const [id] = Object.keys(resources(dev, 'AWS::EC2::Instance'));
    expect(id).toMatch(/^NetworkVpcpublicSubnet1NatInstance[0-9A-F]{8}[0-9a-f]{16}$/);
  });
});

describe('the setup script’s retry (run with bash)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'positivity-nat-'));
  const script = path.join(dir, 'nat-setup.sh');
  writeFileSync(script, NAT_SETUP_SCRIPT);
  /** A command that fails `failures` times, then succeeds; it counts its calls in a file. */
  function flaky(failures: number): { command: string; calls: () => number } {
    const counter = path.join(dir, `calls-${failures}-${Math.random()}`);
    const command = path.join(dir, `flaky-${path.basename(counter)}.sh`);
    writeFileSync(
      command,
      `#!/bin/bash\nn=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 ))\necho $n > ${counter}\n[ $n -gt ${failures} ]\n`,
      { mode: 0o755 },
    );
    return { command, calls: () => Number(execFileSync('cat', [counter], { encoding: 'utf8' })) };
  }
  const retry = (attempts: number, command: string) =>
    spawnSync('bash', ['-c', `source "${script}" functions && retry ${attempts} "${command}"`], {
      env: { ...process.env, RETRY_BASE_DELAY: '0' },
      encoding: 'utf8',
    });

  it('keeps trying a failing install until it succeeds', () => {
    const install = flaky(2);
    const run = retry(10, install.command);
    expect(run.status).toBe(0);
    expect(install.calls()).toBe(3);
    expect(run.stderr).toContain('attempt 2 failed');
  });

  it('gives up after its attempts, failing so systemd tries again later', () => {
    const install = flaky(5);
    const run = retry(3, install.command);
    expect(run.status).toBe(1);
    expect(install.calls()).toBe(3);
    expect(run.stderr).toContain('giving up after 3 attempts');
  });
});

describe('NAT gateway as a stage setting', () => {
  it('uses one NAT gateway and no instance, with no image to pin', () => {
    const template = synthesize({
      context: { ...PROD_CONTEXT, egress: 'nat-gateway', natImageId: '' },
    }).template();
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::Instance', 0);
    // The probe still watches the way out, and is created after it.
    const [probeId, probe] = Object.entries(resources(template, 'AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('EgressProbeFunction'),
    ) ?? [undefined, undefined];
    expect(probeId).toBeDefined();
    expect(probe?.DependsOn).toContain(
      logicalId(template, 'AWS::EC2::NatGateway', 'NetworkVpcpublicSubnet1'),
    );
  });
});

describe('egress probe', () => {
  it('runs the inline probe every 10 minutes in the app subnets and the Lambdas’ security group', () => {
    const id = logicalId(dev, 'AWS::Lambda::Function', 'EgressProbeFunction');
    const fn = resources(dev, 'AWS::Lambda::Function')[id];
    expect(fn?.Properties).toMatchObject({
      Code: { ZipFile: EGRESS_PROBE_SOURCE },
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      VpcConfig: {
        SecurityGroupIds: [
          {
            'Fn::GetAtt': [
              logicalId(dev, 'AWS::EC2::SecurityGroup', 'NetworkLambdaSecurityGroup'),
              'GroupId',
            ],
          },
        ],
        SubnetIds: [
          { Ref: logicalId(dev, 'AWS::EC2::Subnet', 'NetworkVpcappSubnet1Subnet') },
          { Ref: logicalId(dev, 'AWS::EC2::Subnet', 'NetworkVpcappSubnet2Subnet') },
        ],
      },
    });
    const urls = JSON.stringify(fn?.Properties?.Environment);
    for (const host of ['api.twilio.com', 'api.openai.com', 'secretsmanager.']) expect(urls).toContain(host);
    dev.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: `rate(${EGRESS_PROBE_MINUTES} minutes)`,
      Targets: [
        { Arn: { 'Fn::GetAtt': [id, 'Arn'] }, Id: 'Target0', RetryPolicy: { MaximumRetryAttempts: 0 } },
      ],
    });
    // Created after the NAT, so a fresh stack does not page about a NAT still booting.
    expect(fn?.DependsOn).toContain(
      logicalId(dev, 'AWS::EC2::Instance', 'NetworkVpcpublicSubnet1NatInstance'),
    );
  });

  /** Runs the deployed source with a stand-in fetch. */
  async function probe(fetch: (url: string) => Promise<{ status: number }>) {
    const exports: { handler?: () => Promise<unknown> } = {};
    const logged: string[] = [];
    vm.runInNewContext(EGRESS_PROBE_SOURCE, {
      exports,
      fetch,
      AbortSignal,
      console: { log: (line: string) => logged.push(line) },
      process: { env: { PROBE_URLS: 'https://a.example https://b.example', PROBE_TIMEOUT_MS: '5000' } },
    });
    if (!exports.handler) throw new Error('the probe source exports no handler');
    return { run: exports.handler(), logged };
  }

  it('succeeds when every host answers with any HTTP status', async () => {
    const { run } = await probe(async (url) => ({ status: url.includes('a.') ? 200 : 401 }));
    await expect(run).resolves.toEqual([
      { url: 'https://a.example', status: 200 },
      { url: 'https://b.example', status: 401 },
    ]);
  });

  it('throws, naming each unreachable host and why, when a connection fails', async () => {
    const { run, logged } = await probe(async (url) => {
      if (url.includes('b.'))
        throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ETIMEDOUT' } });
      return { status: 200 };
    });
    await expect(run).rejects.toThrow('egress: cannot reach https://b.example (ETIMEDOUT)');
    expect(logged[0]).toContain('"error":"ETIMEDOUT"');
  });
});
