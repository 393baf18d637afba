// The app secret: third-party credentials the operator pastes in after the first deploy. Lambdas receive
// only its ARN (APP_SECRET_ARN) and read it once per cold start (src/adapters/secrets.ts).
import { Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Keys the operator fills in; empty strings read as "missing" in src/config.ts, so a Lambda names them. */
export const OPERATOR_SECRET_KEYS = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'OPENAI_API_KEY'] as const;

export class AppSecret extends Construct {
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description:
        'Daily Positivity: fill TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, OPENAI_API_KEY (API_TOKEN is generated)',
      // Only applied when the secret is created: later deploys never overwrite what the operator entered.
      generateSecretString: {
        secretStringTemplate: JSON.stringify(Object.fromEntries(OPERATOR_SECRET_KEYS.map((k) => [k, '']))),
        generateStringKey: 'API_TOKEN',
        passwordLength: 48,
        excludePunctuation: true,
      },
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Holds Twilio and OpenAI keys that only those providers can rotate; DEPLOYMENT.md covers rotating them.',
    });
  }
}
