// Runs the database migrations during `cdk deploy`, after the database exists and before the new code of
// the app Lambdas is deployed. The migrate bundle contains every migration, so any deploy that adds one
// changes the function, and the trigger runs it; a failed migration fails and rolls back the deploy.
import { Duration } from 'aws-cdk-lib';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
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

  constructor(scope: Construct, id: string, props: DatabaseMigrationsProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, 'Migrate', {
      shared: props.shared,
      name: 'migrate',
      description: 'Applies pending database migrations (run by the deploy)',
      timeout: Duration.minutes(5),
      memorySize: 512,
    });

    this.trigger = new triggers.Trigger(this, 'OnDeploy', {
      handler: this.function.fn,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: Duration.minutes(5),
      executeOnHandlerChange: true,
      executeAfter: props.executeAfter,
      executeBefore: props.executeBefore,
    });
  }
}
