// CDK entry point: the stage's settings (config/<stage>.json + `-c key=value`), one stack per stage, cdk-nag
// AwsSolutions checks on all.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PositivityStack } from '../lib/positivity-stack.js';
import { readStackSettings, StackSettingsError } from '../lib/stack-settings.js';

const app = new App();
try {
  const settings = readStackSettings(app.node);
  // Environment-agnostic: nothing is looked up at synth time, so `cdk synth` works offline; the account
  // and region come from the credentials `cdk deploy` runs with.
  new PositivityStack(app, `DailyPositivity-${settings.stage}`, {
    settings,
    description: `Daily Positivity SMS (${settings.stage})`,
  });
} catch (error) {
  if (!(error instanceof StackSettingsError)) throw error;
  console.error(error.message);
  process.exit(2);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
