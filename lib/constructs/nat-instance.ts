// A NAT instance provider that can be trusted with every send: our own idempotent, retrying setup script
// (nat-setup.sh) instead of CDK's one-shot `yum install`, an image that changes only when the operator
// changes natImageId, IMDSv2 only, an encrypted root volume, and Systems Manager for a shell (no SSH key,
// no open port).
import { readFileSync } from 'node:fs';
import { Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { AL2023_ARM64_PARAMETER } from '../stack-settings.js';

/** The first-boot script, as the instance runs it (tests run its retry with bash). */
export const NAT_SETUP_SCRIPT = readFileSync(new URL('./nat-setup.sh', import.meta.url), 'utf8');

/** A fixed AMI id: CloudFormation sees the same ImageId on every deploy until the operator changes it. */
class PinnedImage implements ec2.IMachineImage {
  constructor(private readonly imageId: string) {}
  getImage(): ec2.MachineImageConfig {
    return {
      imageId: this.imageId,
      osType: ec2.OperatingSystemType.LINUX,
      userData: ec2.UserData.forLinux(),
    };
  }
}

export interface HardenedNatProps {
  instanceType: ec2.InstanceType;
  /** Pinned AMI; without one, the latest Amazon Linux 2023 at each deploy (a new image replaces the NAT). */
  imageId?: string;
}

export class HardenedNatInstanceProvider extends ec2.NatProvider {
  private readonly gateways: Array<{ az: string; instance: ec2.Instance }> = [];
  private _securityGroup?: ec2.SecurityGroup;

  constructor(private readonly props: HardenedNatProps) {
    super();
  }

  get securityGroup(): ec2.SecurityGroup {
    if (!this._securityGroup) throw new Error('pass the provider to a Vpc before reading its security group');
    return this._securityGroup;
  }

  get instances(): ec2.Instance[] {
    return this.gateways.map((g) => g.instance);
  }

  get configuredGateways(): ec2.GatewayConfig[] {
    return this.gateways.map((g) => ({ az: g.az, gatewayId: g.instance.instanceId }));
  }

  configureNat(options: ec2.ConfigureNatOptions): void {
    const { vpc } = options;
    // Outbound anywhere; inbound only what the stack allows (the VPC CIDR, added by the Network construct).
    this._securityGroup = new ec2.SecurityGroup(vpc, 'NatSecurityGroup', {
      vpc,
      description: 'NAT instance: from the VPC only, out to the internet',
      allowAllOutbound: true,
    });
    const machineImage = this.props.imageId
      ? new PinnedImage(this.props.imageId)
      : ec2.MachineImage.fromSsmParameter(AL2023_ARM64_PARAMETER, { os: ec2.OperatingSystemType.LINUX });
    for (const subnet of options.natSubnets) {
      const instance = new ec2.Instance(subnet, 'NatInstance', {
        vpc,
        vpcSubnets: { subnets: [subnet] },
        instanceType: this.props.instanceType,
        machineImage,
        securityGroup: this._securityGroup,
        sourceDestCheck: false,
        userData: ec2.UserData.custom(NAT_SETUP_SCRIPT),
        // A changed script only runs on a new instance: replace it rather than leave the old setup.
        userDataCausesReplacement: true,
        httpTokens: ec2.HttpTokens.REQUIRED,
        ssmSessionPermissions: true,
        blockDevices: [
          {
            deviceName: '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(8, {
              encrypted: true,
              volumeType: ec2.EbsDeviceVolumeType.GP3,
              deleteOnTermination: true,
            }),
          },
        ],
      });
      acknowledgeNatInstance(instance);
      this.gateways.push({ az: subnet.availabilityZone, instance });
    }
    for (const subnet of options.privateSubnets) this.configureSubnet(subnet);
  }

  configureSubnet(subnet: ec2.PrivateSubnet): void {
    const gateway = this.gateways.find((g) => g.az === subnet.availabilityZone) ?? this.gateways[0];
    if (!gateway) throw new Error('configureNat must run before configureSubnet');
    subnet.addRoute('DefaultRoute', {
      routerType: ec2.RouterType.INSTANCE,
      routerId: gateway.instance.instanceId,
      enablesInternetConnectivity: true,
    });
  }
}

function acknowledgeNatInstance(instance: Construct) {
  const v = Validations.of(instance);
  v.acknowledge({
    id: 'AwsSolutions-EC28',
    reason:
      'The egress probe alarm, not 1-minute CPU graphs, tells when the NAT fails; basic 5-minute metrics suffice.',
  });
  v.acknowledge({
    id: 'AwsSolutions-EC29',
    reason:
      'Stateless NAT; CloudFormation must be able to replace it when natImageId or its setup script changes.',
  });
}
