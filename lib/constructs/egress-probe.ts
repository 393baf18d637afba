// Proves, every EGRESS_PROBE_MINUTES, that the Lambdas' subnets still reach the internet: a tiny Lambda in
// the same subnets and security group as the app asks Twilio, OpenAI and Secrets Manager for any HTTPS answer
// and throws if one does not come. Monitoring alarms on its errors, so a dead NAT pages within 30 minutes
// even at night, when no message is being sent.
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EGRESS_PROBE_TIMEOUT_MS } from '../../src/domain/call-budgets.js';
import { EGRESS_PROBE_MINUTES } from '../../src/domain/capacity.js';
import { acknowledgeVpcLambda } from './service-function.js';

/**
 * The probe's whole handler (CommonJS, no dependencies), deployed inline. Any HTTP status means the
 * network path works; only a connection error or a timeout counts as unreachable.
 */
export const EGRESS_PROBE_SOURCE = `
exports.handler = async () => {
  const urls = process.env.PROBE_URLS.split(' ');
  const timeoutMs = Number(process.env.PROBE_TIMEOUT_MS);
  const results = await Promise.all(
    urls.map((url) =>
      fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) }).then(
        (response) => ({ url, status: response.status }),
        (error) => ({ url, error: String((error && error.cause && error.cause.code) || (error && error.name) || error) }),
      ),
    ),
  );
  const unreachable = results.filter((r) => r.error !== undefined);
  console.log(JSON.stringify({ message: 'egress probe', results }));
  if (unreachable.length > 0) {
    throw new Error('egress: cannot reach ' + unreachable.map((r) => r.url + ' (' + r.error + ')').join(', '));
  }
  return results;
};
`;

export interface EgressProbeProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  securityGroup: ec2.ISecurityGroup;
  logRetention: logs.RetentionDays;
  /** Created before the probe first runs (the NAT), so a fresh stack does not page about itself. */
  egress: Construct[];
}

export class EgressProbe extends Construct {
  readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: EgressProbeProps) {
    super(scope, id);
    const urls = [
      'https://api.twilio.com/2010-04-01',
      'https://api.openai.com/v1/models',
      `https://secretsmanager.${Stack.of(this).region}.${Aws.URL_SUFFIX}/`,
    ];
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.function = new lambda.Function(this, 'Function', {
      description: 'Checks that the Lambdas’ subnets reach Twilio, OpenAI and Secrets Manager',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(EGRESS_PROBE_SOURCE),
      memorySize: 128,
      timeout: Duration.seconds(20),
      logGroup,
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [props.securityGroup],
      environment: { PROBE_URLS: urls.join(' '), PROBE_TIMEOUT_MS: String(EGRESS_PROBE_TIMEOUT_MS) },
    });
    for (const dependency of props.egress) this.function.node.addDependency(dependency);

    new events.Rule(this, 'Schedule', {
      description: `Runs the egress probe every ${EGRESS_PROBE_MINUTES} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(EGRESS_PROBE_MINUTES)),
      // No retries: the next run is the retry, and the alarm wants one datapoint per run.
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });

    acknowledgeVpcLambda(this.function);
  }
}
