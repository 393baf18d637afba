// The service's secrets, one per use, so each Lambda is granted only what it reads: the RDS-generated
// database secret, the Twilio credentials, the OpenAI key and the subscriber-API token. Which Lambda reads
// which (and the environment variable carrying each ARN) is src/config.ts's LAMBDA_NEEDS and SECRET_SOURCES;
// the Lambdas re-read them as they rotate (src/adapters/secrets.ts). Lambdas get ARNs only, never values.
import { SecretValue, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretKind } from '../../src/adapters/credentials.js';
import { LAMBDA_NEEDS } from '../../src/config.js';

/** Keys the operator fills in after the first deploy; empty strings read as "missing" in src/config.ts. */
const OPERATOR_SECRET_KEYS = {
  twilio: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'],
  openai: ['OPENAI_API_KEY'],
} as const;

/** "sender, webhooks and reconcile": the Lambdas LAMBDA_NEEDS lets read this secret, for its description. */
function readers(kind: SecretKind): string {
  const names = Object.entries(LAMBDA_NEEDS)
    .filter(([, needs]) => (needs.secrets as readonly SecretKind[]).includes(kind))
    .map(([name]) => name);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? 'nothing');
}

export interface ServiceSecretsProps {
  stage: string;
  /** The RDS-generated credentials (username, password, host, port, dbname). */
  database: secretsmanager.ISecret;
}

/** Every secret by kind: the class below is one (ServiceFunctionShared.secrets takes it as is). */
export class ServiceSecrets extends Construct implements Record<SecretKind, secretsmanager.ISecret> {
  readonly db: secretsmanager.ISecret;
  readonly twilio: secretsmanager.Secret;
  readonly openai: secretsmanager.Secret;
  readonly api: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ServiceSecretsProps) {
    super(scope, id);
    this.db = props.database;
    const name = (use: string) => `daily-positivity/${props.stage}/${use}`;
    // Empty placeholders: the operator writes the real values with put-secret-value. CloudFormation writes a
    // secret's value only when SecretString (or GenerateSecretString) itself changes, so deploys keep what was
    // put as long as these placeholders stay as they are: never edit them.
    const placeholders = (keys: readonly string[]) =>
      Object.fromEntries(keys.map((k) => [k, SecretValue.unsafePlainText('')]));

    this.twilio = new secretsmanager.Secret(this, 'Twilio', {
      secretName: name('twilio'),
      description: `Daily Positivity: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (read by ${readers('twilio')})`,
      secretObjectValue: placeholders(OPERATOR_SECRET_KEYS.twilio),
    });
    this.openai = new secretsmanager.Secret(this, 'OpenAi', {
      secretName: name('openai'),
      description: `Daily Positivity: OPENAI_API_KEY (read by ${readers('openai')})`,
      secretObjectValue: placeholders(OPERATOR_SECRET_KEYS.openai),
    });
    this.api = new secretsmanager.Secret(this, 'Api', {
      secretName: name('api'),
      description: `Daily Positivity: API_TOKEN, the subscriber API bearer token (read by ${readers('api')})`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'API_TOKEN',
        passwordLength: 48,
        excludePunctuation: true,
      },
    });

    Validations.of(this.twilio).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Twilio issues auth tokens (secondary token, then promote) in its console; DEPLOYMENT.md rotates them by hand (the Lambdas re-read within SECRETS_MAX_AGE_SECONDS).',
    });
    Validations.of(this.openai).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'OpenAI keys are created and revoked in the OpenAI dashboard; DEPLOYMENT.md rotates them by hand (the sender re-reads within SECRETS_MAX_AGE_SECONDS).',
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'API clients hold this bearer token; automatic rotation would lock them out. DEPLOYMENT.md rotates it by hand (webhooks re-reads within SECRETS_MAX_AGE_SECONDS).',
    });
  }
}
