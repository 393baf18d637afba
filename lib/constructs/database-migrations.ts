// Runs the database migrations during `cdk deploy`, after the database exists and before the new code of
// the app Lambdas is deployed. The migrate bundle contains every migration, so any deploy that adds one
// changes the function, and the trigger runs it; a failed migration fails and rolls back the deploy.
import { CfnResource, CustomResourceProviderBase, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import { LAMBDA_TIMEOUT_MS } from '../../src/domain/call-budgets.js';
import { ServiceFunction, type ServiceFunctionShared } from './service-function.js';

export interface DatabaseMigrationsProps {
  shared: ServiceFunctionShared;
  /**
   * Provisioned first: the database and the network path to it and to Secrets Manager. (The NAT instance
   * is "created" once running, before its user data finishes; the database takes ~10 minutes longer, so by
   * the time the trigger fires the route to Secrets Manager works.)
   */
  executeAfter: Construct[];
  /** Updated only after migrations succeeded: the app Lambdas. */
  executeBefore: Construct[];
}

export class DatabaseMigrations extends Construct {
  readonly function: ServiceFunction;
  readonly trigger: triggers.Trigger;
  /** Where the trigger's provider (aws-cdk-lib's Lambda that invokes the migrate function) logs. */
  readonly providerLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: DatabaseMigrationsProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, 'Migrate', {
      shared: props.shared,
      name: 'migrate',
      description: 'Applies pending database migrations (run by the deploy)',
      timeout: Duration.millis(LAMBDA_TIMEOUT_MS.migrate),
      memorySize: 512,
    });

    this.trigger = new triggers.Trigger(this, 'OnDeploy', {
      handler: this.function.fn,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: Duration.millis(LAMBDA_TIMEOUT_MS.migrate),
      executeOnHandlerChange: true,
      executeAfter: props.executeAfter,
      executeBefore: props.executeBefore,
    });

    // The trigger's provider is aws-cdk-lib's own Lambda, with no log settings: left alone, Lambda creates
    // its group on the first deploy, and that group never expires and outlives the stack. It logs here
    // instead, and the trigger fires only once this group exists.
    this.providerLogGroup = new logs.LogGroup(this, 'TriggerProviderLogs', {
      retention: props.shared.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    triggerProviderFunction(this).addPropertyOverride(
      'LoggingConfig.LogGroup',
      this.providerLogGroup.logGroupName,
    );
    this.trigger.node.addDependency(this.providerLogGroup);
  }
}

/** The Lambda function of the provider aws-cdk-lib creates once per stack for every `triggers.Trigger`. */
function triggerProviderFunction(scope: Construct): CfnResource {
  const provider = Stack.of(scope).node.children.find(
    (c) => c instanceof CustomResourceProviderBase && c.node.id.startsWith('AWSCDK.Trigger'),
  );
  const handler = provider?.node.tryFindChild('Handler');
  if (!CfnResource.isCfnResource(handler) || handler.cfnResourceType !== 'AWS::Lambda::Function')
    throw new Error(
      'aws-cdk-lib no longer names the Trigger provider as expected: give its Lambda a log group',
    );
  return handler;
}
