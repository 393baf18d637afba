// The VPC: public subnets for one NAT instance, private subnets with egress for the Lambdas (they call
// OpenAI, Twilio, Secrets Manager and Scheduler), isolated subnets for the database.
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  logRetention: logs.RetentionDays;
}

export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Attached to every Lambda; the database admits this group only. */
  readonly lambdaSecurityGroup: ec2.SecurityGroup;
  readonly lambdaSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  readonly databaseSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);

    // A t4g.nano NAT instance instead of a NAT gateway: ~$7/month against ~$37 (DEPLOYMENT.md has the
    // arithmetic). Traffic is a few hundred small HTTPS calls a day, far below a nano's bandwidth; if the
    // instance is down, sends fail and the Scheduler retries them within the subscriber's window.
    const nat = ec2.NatProvider.instanceV2({
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
      // Nothing from the internet may open connections through it; the VPC's own traffic is allowed below.
      defaultAllowedTraffic: ec2.NatTrafficDirection.OUTBOUND_ONLY,
    });

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      natGatewayProvider: nat,
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
    nat.connections.allowFrom(ec2.Peer.ipv4(this.vpc.vpcCidrBlock), ec2.Port.allTraffic(), 'from the VPC');
    Validations.of(nat.securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'Ingress is the VPC CIDR only (a token cdk-nag cannot read); nothing from 0.0.0.0/0.',
    });

    // The NAT provider creates its instance inside the public subnet's scope.
    for (const instance of this.vpc.node.findAll().filter((c) => c instanceof ec2.Instance)) {
      acknowledgeNatInstance(instance);
    }

    this.lambdaSecurityGroup = new ec2.SecurityGroup(this, 'LambdaSecurityGroup', {
      vpc: this.vpc,
      description: 'Lambdas: outbound HTTPS via the NAT instance and Postgres to the database',
      allowAllOutbound: true,
    });
  }
}

function acknowledgeNatInstance(instance: Construct) {
  const v = Validations.of(instance);
  v.acknowledge({
    id: 'AwsSolutions-EC26',
    reason: 'NAT instance root volume holds only the stock Amazon Linux image and iptables rules, no data.',
  });
  v.acknowledge({
    id: 'AwsSolutions-EC28',
    reason: 'Detailed monitoring costs more than the NAT instance itself; basic 5-minute metrics suffice.',
  });
  v.acknowledge({
    id: 'AwsSolutions-EC29',
    reason:
      'The NAT instance is stateless and replaced by CloudFormation; termination protection would block that.',
  });
}
