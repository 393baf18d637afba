// RDS PostgreSQL on Graviton in isolated subnets; credentials generated into Secrets Manager.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface DatabaseProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  /** Only this group may connect. */
  clientSecurityGroup: ec2.ISecurityGroup;
  stage: string;
  deletionProtection: boolean;
  logRetention: logs.RetentionDays;
}

export class Database extends Construct {
  readonly instance: rds.DatabaseInstance;
  /** The RDS-generated JSON secret (username, password, host, port, dbname) the Lambdas read. */
  readonly secret: secretsmanager.ISecret;

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
      // Graviton; 1 GiB RAM is ample for a few thousand subscribers and ~110 connections.
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
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
    this.instance.connections.allowDefaultPortFrom(props.clientSecurityGroup, 'Lambdas');

    if (!this.instance.secret) throw new Error('generated credentials always create a secret');
    this.secret = this.instance.secret;

    const db = Validations.of(this.instance);
    db.acknowledge({
      id: 'AwsSolutions-RDS3',
      reason:
        'Single-AZ halves the database cost; a daily message tolerates a restore from the 7-day automated backups.',
    });
    db.acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'Isolated subnets and a security group admitting only the Lambdas protect the port; 5432 hides nothing.',
    });
    if (!props.deletionProtection) {
      db.acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Non-prod stages can be torn down; the prod stage turns deletion protection on.',
      });
    }
    // instance.secret is the attachment; the secret itself is a sibling under the instance.
    db.acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Warm Lambdas hold the password for their connection pool; rotation is a manual step in DEPLOYMENT.md.',
    });
  }
}
