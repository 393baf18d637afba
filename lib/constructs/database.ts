// RDS PostgreSQL on Graviton in isolated subnets; credentials generated into Secrets Manager and rotated
// every 30 days; optionally RDS Proxy in front (rdsProxy) for a high send pace.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as sam from 'aws-cdk-lib/aws-sam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CONNECTIONS_SAFE_SHARE, type DatabaseInstanceType } from '../../src/domain/capacity.js';

/** Days between automatic password rotations of the database secret. */
export const DB_PASSWORD_ROTATION_DAYS = 30;

export interface DatabaseProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  /** Only this group may connect. */
  clientSecurityGroup: ec2.ISecurityGroup;
  /** Private subnets with egress: the rotation function calls Secrets Manager's API from there. */
  rotationSubnets: ec2.SubnetSelection;
  stage: string;
  deletionProtection: boolean;
  logRetention: logs.RetentionDays;
  instanceType: DatabaseInstanceType;
  rdsProxy: boolean;
}

export class Database extends Construct {
  readonly instance: rds.DatabaseInstance;
  /** The RDS-generated JSON secret (username, password, host, port, dbname) the Lambdas read. */
  readonly secret: secretsmanager.ISecret;
  /** RDS Proxy, when the stage asks for it; the Lambdas then connect to its endpoint (DATABASE_HOST). */
  readonly proxy?: rds.DatabaseProxy;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const instanceIdentifier = `daily-positivity-${props.stage}`;

    // Created before the instance so RDS writes into a group that has a retention period (RDS would
    // otherwise create one that keeps logs forever).
    const logGroup = new logs.LogGroup(this, 'PostgresLogs', {
      logGroupName: `/aws/rds/instance/${instanceIdentifier}/postgresql`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.instance = new rds.DatabaseInstance(this, 'Postgres', {
      instanceIdentifier,
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_18 }),
      // Graviton; db.t4g.micro (1 GiB, max_connections ≈ 112) is ample for a few thousand subscribers.
      // The capacity check (src/domain/capacity.ts) refuses a stage whose Lambdas could exhaust it.
      instanceType: new ec2.InstanceType(props.instanceType),
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      credentials: rds.Credentials.fromGeneratedSecret('positivity'),
      databaseName: 'positivity',
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      storageEncrypted: true,
      backupRetention: Duration.days(7),
      preferredBackupWindow: '08:00-08:30', // UTC: before any subscriber's 12:00 local window in the Americas
      deleteAutomatedBackups: false,
      copyTagsToSnapshot: true,
      deletionProtection: props.deletionProtection,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      publiclyAccessible: false,
      multiAz: false,
      autoMinorVersionUpgrade: true,
      cloudwatchLogsExports: ['postgresql'],
    });
    this.instance.node.addDependency(logGroup);
    // With RDS Proxy the Lambdas reach the database only through it: a Lambda that ignored DATABASE_HOST
    // would fail to connect rather than quietly open connections the capacity check did not count.
    if (!props.rdsProxy) this.instance.connections.allowDefaultPortFrom(props.clientSecurityGroup, 'Lambdas');

    if (!this.instance.secret) throw new Error('generated credentials always create a secret');
    this.secret = this.instance.secret;

    // Secrets Manager's single-user rotation (its hosted PostgreSQL function, in the app subnets). Pooled
    // connections stay open across a rotation; a Lambda that then opens one with the old password gets
    // 28P01 and reads the secret again (src/adapters/secrets.ts). Not at deploy time: a rotation racing the
    // migration trigger could fail the deploy.
    const rotation = this.instance.addRotationSingleUser({
      automaticallyAfter: Duration.days(DB_PASSWORD_ROTATION_DAYS),
      vpcSubnets: props.rotationSubnets,
      rotateImmediatelyOnUpdate: false,
    });
    // The function lives in the Serverless Application Repository app, which offers no log settings, so
    // its group (Lambda's default name) is created here first; Lambda would otherwise create one on the
    // first rotation that never expires and outlives the stack. The function gets a name of its own
    // rather than aws-cdk-lib's path-derived one, under which earlier releases' rotations already
    // created that group (creating it again would fail the deploy).
    const rotationFunctionName = `${instanceIdentifier}-db-password-rotation`;
    const rotationApp = rotation.node.defaultChild as sam.CfnApplication;
    rotationApp.addPropertyOverride('Parameters.functionName', rotationFunctionName);
    const rotationLogs = new logs.LogGroup(this, 'RotationLogs', {
      logGroupName: `/aws/lambda/${rotationFunctionName}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    rotationApp.node.addDependency(rotationLogs);

    if (props.rdsProxy) {
      const proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
        vpc: props.vpc,
        description: 'RDS Proxy: Postgres from the Lambdas, to the database',
        allowAllOutbound: true,
      });
      proxySecurityGroup.connections.allowFrom(props.clientSecurityGroup, ec2.Port.tcp(5432), 'Lambdas');
      this.proxy = this.instance.addProxy('Proxy', {
        // Proxy names are unique per account and Region, and aws-cdk-lib would name it "Proxy" in every stage.
        dbProxyName: instanceIdentifier,
        secrets: [this.secret],
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [proxySecurityGroup],
        requireTLS: true,
        // The proxy, not the Lambdas, holds the database's connections: at most the safe share.
        maxConnectionsPercent: CONNECTIONS_SAFE_SHARE * 100,
        debugLogging: false,
      });
    }

    const db = Validations.of(this.instance);
    db.acknowledge({
      id: 'AwsSolutions-RDS3',
      reason:
        'Single-AZ halves the database cost; a daily message tolerates a restore from the 7-day automated backups.',
    });
    db.acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'Isolated subnets and a security group admitting only the Lambdas, the rotation function and (rdsProxy) the proxy guard the port; 5432 hides nothing.',
    });
    if (!props.deletionProtection) {
      db.acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Non-prod stages can be torn down; the prod stage turns deletion protection on.',
      });
    }
  }
}
