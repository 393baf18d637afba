// One Lambda of this service: bundled with esbuild from src/handlers (ESM, minified, Node 22, ARM64), in the
// VPC, with its own log group, its concurrency cap from the capacity plan, and read access to exactly the
// secrets src/config.ts's LAMBDA_NEEDS says it reads, by ARN only.
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretKind } from '../../src/adapters/credentials.js';
import { LAMBDA_NEEDS, SECRET_SOURCES } from '../../src/config.js';
import type { ConcurrencyPlan } from '../../src/domain/capacity.js';
import { BUNDLE_OPTIONS, entryPath, type LambdaName, PROJECT_ROOT } from '../lambda-bundling.js';

/** What every function shares; the stack builds this once. */
export interface ServiceFunctionShared {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  securityGroup: ec2.ISecurityGroup;
  /** One secret per use (constructs/service-secrets.ts); each function gets the ARNs and grants of its own. */
  secrets: Record<SecretKind, secretsmanager.ISecret>;
  /** Reserved concurrency per function when the account's quota allows it (src/domain/capacity.ts). */
  concurrency: ConcurrencyPlan;
  logRetention: logs.RetentionDays;
  /** Non-secret settings (src/config.ts names) given to every function. */
  environment: Record<string, string>;
}

export interface ServiceFunctionProps {
  shared: ServiceFunctionShared;
  name: LambdaName;
  description: string;
  timeout: Duration;
  memorySize?: number;
  environment?: Record<string, string>;
}

export class ServiceFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const { shared } = props;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: shared.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: entryPath(props.name),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}/package-lock.json`,
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      reservedConcurrentExecutions:
        shared.concurrency.mode === 'reserved' ? shared.concurrency.need[props.name] : undefined,
      logGroup: this.logGroup,
      vpc: shared.vpc,
      vpcSubnets: shared.subnets,
      securityGroups: [shared.securityGroup],
      environment: {
        ...shared.environment,
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: `daily-positivity-${props.name}`,
        ...Object.fromEntries(
          LAMBDA_NEEDS[props.name].secrets.map((kind) => [
            SECRET_SOURCES[kind].arn,
            shared.secrets[kind].secretArn,
          ]),
        ),
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: BUNDLE_OPTIONS.target,
        minify: BUNDLE_OPTIONS.minify,
        mainFields: [...BUNDLE_OPTIONS.mainFields],
        banner: BUNDLE_OPTIONS.banner,
        externalModules: [...BUNDLE_OPTIONS.external],
        metafile: true,
      },
    });
    for (const kind of LAMBDA_NEEDS[props.name].secrets) shared.secrets[kind].grantRead(this.fn);

    acknowledgeVpcLambda(this.fn);
  }
}

/** cdk-nag findings every VPC Lambda of this stack has, acknowledged with their reasons. */
export function acknowledgeVpcLambda(fn: lambda.Function): void {
  const role = fn.role;
  if (!role) throw new Error('a Lambda function always has a role');
  const v = Validations.of(role);
  v.acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'AWS-managed policy granting only CloudWatch Logs writes, which every Lambda needs.',
  });
  v.acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    reason: 'AWS-managed policy for the ENIs a VPC Lambda needs; those EC2 actions take no resource ARN.',
  });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason:
      'NODEJS_22_X is the project-wide runtime (esbuild target node22; GitHub Actions tests Node 20 and 22); still supported.',
  });
}
