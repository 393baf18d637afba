// The third-party secrets, one per use (issue #14): Twilio credentials, the OpenAI key, the subscriber API
// token. The operator pastes the Twilio and OpenAI values in after the first deploy; the API token is
// generated. Each Lambda receives only the ARNs of the secrets it reads (src/config.ts LAMBDA_NEEDS) and
// re-reads them as they rotate (src/adapters/secrets.ts). The database secret is RDS's (constructs/database.ts).
import { Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Keys the operator fills in, per secret; empty strings read as "missing", so a Lambda names them. */
export const OPERATOR_SECRET_KEYS = {
  twilio: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'],
  openai: ['OPENAI_API_KEY'],
} as const;

/** A JSON secret made from a template needs one generated key; the Lambdas ignore this one. */
const PLACEHOLDER = { generateStringKey: 'placeholder', passwordLength: 8 } as const;

const emptyTemplate = (keys: readonly string[]) =>
  JSON.stringify(Object.fromEntries(keys.map((k) => [k, ''])));

export class ServiceSecrets extends Construct {
  readonly twilio: secretsmanager.Secret;
  readonly openai: secretsmanager.Secret;
  readonly api: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    // secretStringTemplate is only applied when a secret is created: later deploys never overwrite values.
    this.twilio = new secretsmanager.Secret(this, 'Twilio', {
      description: 'Daily Positivity: fill TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN',
      generateSecretString: {
        secretStringTemplate: emptyTemplate(OPERATOR_SECRET_KEYS.twilio),
        ...PLACEHOLDER,
      },
    });
    this.openai = new secretsmanager.Secret(this, 'OpenAi', {
      description: 'Daily Positivity: fill OPENAI_API_KEY',
      generateSecretString: {
        secretStringTemplate: emptyTemplate(OPERATOR_SECRET_KEYS.openai),
        ...PLACEHOLDER,
      },
    });
    this.api = new secretsmanager.Secret(this, 'Api', {
      description: 'Daily Positivity: API_TOKEN, the bearer token of the subscriber API (generated)',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'API_TOKEN',
        passwordLength: 48,
        excludePunctuation: true,
      },
    });
    for (const secret of [this.twilio, this.openai]) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Holds a Twilio or OpenAI key that only that provider can rotate; DEPLOYMENT.md covers rotating it (the Lambdas re-read it within SECRETS_MAX_AGE_SECONDS).',
      });
    }
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A token our API clients hold; rotating it means giving them the new one, so it is rotated by hand (DEPLOYMENT.md). The Lambdas re-read it within SECRETS_MAX_AGE_SECONDS.',
    });
  }
}
