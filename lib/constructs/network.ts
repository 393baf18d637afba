// The VPC: public subnets for the NAT (instance or gateway), private subnets with egress for the Lambdas
// (they call OpenAI, Twilio, Secrets Manager and Scheduler), isolated subnets for the database.
import { Annotations, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Egress } from '../../src/domain/capacity.js';
import { AL2023_ARM64_PARAMETER } from '../stack-settings.js';
import { HardenedNatInstanceProvider } from './nat-instance.js';

export interface NetworkProps {
  logRetention: logs.RetentionDays;
  /** nat-instance (~$7.40/month) or nat-gateway (~$36.50/month); DEPLOYMENT.md has the arithmetic. */
  egress: Egress;
  /** The NAT instance's pinned AMI (egress nat-instance). */
  natImageId?: string;
}

export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Attached to every Lambda; the database admits this group only. */
  readonly lambdaSecurityGroup: ec2.SecurityGroup;
  readonly lambdaSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  readonly databaseSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  /** What the Lambdas' internet traffic goes through: the NAT instance or gateway (for dependencies). */
  readonly egressResources: Construct[];

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);

    // One t4g.nano NAT instance: ~$7.40/month against ~$36.50 for a NAT gateway. Traffic is a few small
    // HTTPS calls per message, far below a nano's bandwidth. The egress probe alarm (Monitoring) pages
    // within 30 minutes if it stops forwarding.
    const natInstance =
      props.egress === 'nat-instance'
        ? new HardenedNatInstanceProvider({
            instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
            imageId: props.natImageId,
          })
        : undefined;

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      natGatewayProvider: natInstance ?? ec2.NatProvider.gateway(),
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      // Rejected traffic only: enough to debug a security-group mistake at a fraction of the log volume.
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
      // Nothing uses the default security group; locking it down would add a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
    });

    if (natInstance) {
      natInstance.securityGroup.connections.allowFrom(
        ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
        ec2.Port.allTraffic(),
        'from the VPC',
      );
      Validations.of(natInstance.securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: 'Ingress is the VPC CIDR only (a token cdk-nag cannot read); nothing from 0.0.0.0/0.',
      });
      for (const instance of natInstance.instances) {
        if (!instance.role) continue;
        Validations.of(instance.role).acknowledge({
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
          reason:
            'AWS-managed Systems Manager core policy: Session Manager shells into the NAT with no SSH key pair and no port open to the internet (the security group admits only the VPC).',
        });
      }
      if (!props.natImageId) {
        Annotations.of(this).addWarningV2(
          'positivity:nat-image-unpinned',
          `The NAT instance follows ${AL2023_ARM64_PARAMETER}: a deploy after AWS publishes a new image replaces it. Set natImageId to pin it.`,
        );
      }
    }
    this.egressResources = natInstance
      ? natInstance.instances
      : this.vpc.publicSubnets.flatMap((s) => s.node.children.filter((c) => c instanceof ec2.CfnNatGateway));

    this.lambdaSecurityGroup = new ec2.SecurityGroup(this, 'LambdaSecurityGroup', {
      vpc: this.vpc,
      description: 'Lambdas: outbound HTTPS via the NAT and Postgres to the database',
      allowAllOutbound: true,
    });
  }
}
