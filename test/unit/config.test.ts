import { describe, expect, it } from 'vitest';
import {
  CONFIG_NAMES,
  ConfigError,
  LAMBDA_NEEDS,
  type LambdaName,
  lambdaSettings,
  loadConfig,
  parseSecret,
  requireSettings,
} from '../../src/config.js';
import { SECRET_CONTRACT } from '../fixtures/secret-contract.js';
import { WEBHOOKS_ENV } from '../support/webhooks-env.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      OPENAI_TOKENS_PER_MIN: 10_000,
      OPENAI_REQUESTS_PER_MIN: 50,
      TWILIO_MESSAGES_PER_DAY: 1000,
      TWILIO_MESSAGES_PER_SECOND: 1,
      SEND_WINDOW_START: 720,
      SEND_WINDOW_END: 1020,
      RETENTION_DAYS: 90,
      PENDING_EXPIRY_DAYS: 30,
      DEFAULT_TIMEZONE: 'America/New_York',
      TWILIO_ADVANCED_OPT_OUT: true,
    });
    expect(config.secrets).toEqual({
      TWILIO_ACCOUNT_SID: undefined,
      TWILIO_AUTH_TOKEN: undefined,
      OPENAI_API_KEY: undefined,
      API_TOKEN: undefined,
    });
  });

  it('parses explicit values and trims a trailing slash from the public URL', () => {
    const config = loadConfig({
      PUBLIC_BASE_URL: 'https://abc.execute-api.us-east-1.amazonaws.com/',
      SEND_WINDOW_START: '11:30',
      TWILIO_ADVANCED_OPT_OUT: 'false',
      DEFAULT_TIMEZONE: 'Asia/Kolkata',
      TWILIO_FROM_NUMBER: '+14155550100',
    });
    expect(config.PUBLIC_BASE_URL).toBe('https://abc.execute-api.us-east-1.amazonaws.com');
    expect(config.SEND_WINDOW_START).toBe(690);
    expect(config.TWILIO_ADVANCED_OPT_OUT).toBe(false);
    expect(config.DEFAULT_TIMEZONE).toBe('Asia/Kolkata');
  });

  it('spells DEFAULT_TIMEZONE as the canonical IANA name (it is stored on START sign-ups)', () => {
    expect(loadConfig({ DEFAULT_TIMEZONE: 'asia/tokyo' }).DEFAULT_TIMEZONE).toBe('Asia/Tokyo');
  });

  it('names every bad variable in one error, and never echoes a secret', () => {
    const attempt = () =>
      loadConfig({
        TWILIO_MESSAGES_PER_SECOND: 'fast',
        SEND_WINDOW_START: '25:00',
        DEFAULT_TIMEZONE: 'Mars/Olympus_Mons',
        DATABASE_URL: 'mysql://x',
        OPENAI_MODEL: 'gpt-3.5-turbo',
        TWILIO_AUTH_TOKEN: 'short-secret',
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const message = (error as ConfigError).message;
      for (const name of [
        'TWILIO_MESSAGES_PER_SECOND',
        'SEND_WINDOW_START',
        'DEFAULT_TIMEZONE',
        'DATABASE_URL',
        'OPENAI_MODEL',
        'TWILIO_AUTH_TOKEN',
      ]) {
        expect(message).toContain(name);
      }
      expect(message).toContain('"fast"');
      expect(message).not.toContain('short-secret');
      expect((error as ConfigError).problems).toHaveLength(6);
    }
  });

  // PORT=, RETENTION_DAYS=, LOG_LEVEL= … stopped the process with "Too small … (missing)", while an empty
  // secret or DATABASE_URL meant "not set" (review 6, D7). A .env copied from .env.example is mostly empty.
  it('treats an empty value as unset: the default applies, for every setting', () => {
    const empty = Object.fromEntries(CONFIG_NAMES.map((name) => [name, '']));
    const config = loadConfig(empty);
    const { secrets, ...settings } = config;
    const { secrets: defaultSecrets, ...defaults } = loadConfig({});
    expect(settings).toEqual(defaults);
    expect(secrets).toEqual(defaultSecrets);
    expect(loadConfig({ PORT: '', RETENTION_DAYS: '', LOG_LEVEL: '' })).toMatchObject({
      PORT: 3000,
      RETENTION_DAYS: 90,
      LOG_LEVEL: 'INFO',
    });
  });

  it('rejects a window that ends before it starts', () => {
    expect(() => loadConfig({ SEND_WINDOW_START: '17:00', SEND_WINDOW_END: '12:00' })).toThrow(
      /SEND_WINDOW_END: must be later than SEND_WINDOW_START/,
    );
  });

  it.each([
    ['daily-positivity-prod.proxy-abc123.us-east-1.rds.amazonaws.com', true],
    ['127.0.0.1', true],
    ['postgres://proxy.example.com', false],
    ['proxy.example.com:5432', false],
    ['proxy example.com', false],
  ])('DATABASE_HOST %j is a host name: %s', (host, valid) => {
    if (valid) expect(loadConfig({ DATABASE_HOST: host }).DATABASE_HOST).toBe(host);
    else expect(() => loadConfig({ DATABASE_HOST: host })).toThrow(/DATABASE_HOST: expected a host name/);
  });

  it('requires REDIS_URL when the redis store is chosen', () => {
    expect(() => loadConfig({ RATE_LIMIT_STORE: 'redis' })).toThrow(/REDIS_URL: required when/);
  });
});

describe('CAPACITY_SETTINGS', () => {
  it('is the deployed stage and its capacity inputs as JSON; anything else is named', () => {
    const deployed = JSON.parse(WEBHOOKS_ENV.CAPACITY_SETTINGS);
    expect(loadConfig({ CAPACITY_SETTINGS: WEBHOOKS_ENV.CAPACITY_SETTINGS }).CAPACITY_SETTINGS).toEqual(
      deployed,
    );
    expect(() => loadConfig({ CAPACITY_SETTINGS: '{stage: dev' })).toThrow(
      /CAPACITY_SETTINGS: expected JSON/,
    );
    const noEgress = JSON.stringify({ ...deployed, settings: { ...deployed.settings, egress: 'vpn' } });
    expect(() => loadConfig({ CAPACITY_SETTINGS: noEgress })).toThrow(/CAPACITY_SETTINGS: /);
  });
});

describe('requireSettings', () => {
  it('returns the settings when every named one is present, and names each missing one', () => {
    const config = loadConfig({ PUBLIC_BASE_URL: 'https://a.example' });
    expect(requireSettings(config, ['PUBLIC_BASE_URL']).PUBLIC_BASE_URL).toBe('https://a.example');
    expect(() =>
      requireSettings(config, ['PUBLIC_BASE_URL', 'SCHEDULER_GROUP_NAME', 'SENDER_FUNCTION_ARN']),
    ).toThrow(/SCHEDULER_GROUP_NAME: required here \(missing\)[\s\S]*SENDER_FUNCTION_ARN: required here/);
  });
});

describe('lambdaSettings', () => {
  it('names every setting and secret a Lambda needs and lacks, in one error', () => {
    let problems: string[] = [];
    try {
      lambdaSettings('webhooks', { API_TOKEN: 'x'.repeat(24) });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      'PUBLIC_BASE_URL: required here (missing)',
      'SCHEDULER_GROUP_NAME: required here (missing)',
      'SENDER_FUNCTION_ARN: required here (missing)',
      'CAPACITY_SETTINGS: required here (missing)',
      'DB_SECRET_ARN: required here (missing; or DATABASE_URL in the environment)',
      'TWILIO_SECRET_ARN: required here (missing; or TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN in the environment)',
    ]);
  });

  it("takes each secret from its ARN when set, and reads only the Lambda's own", () => {
    const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:111122223333:secret:${name}`;
    const env = {
      DB_SECRET_ARN: arn('db'),
      TWILIO_SECRET_ARN: arn('twilio'),
      OPENAI_SECRET_ARN: arn('openai'),
      API_SECRET_ARN: arn('api'),
      OPENAI_API_KEY: 'sk-in-the-environment-is-not-used-0000',
    };
    const { sources } = lambdaSettings('reconcile', env);
    expect(sources).toEqual([
      { kind: 'db', arn: arn('db') },
      { kind: 'twilio', arn: arn('twilio') },
    ]);
    expect(lambdaSettings('cleanup', env).sources.map((s) => s.kind)).toEqual(['db']);
  });

  it.each(Object.entries(LAMBDA_NEEDS))('%s reads the secrets the team contract lists', (name, needs) => {
    expect([...needs.secrets]).toEqual(SECRET_CONTRACT[name as LambdaName]);
  });
});

describe('parseSecret', () => {
  it('reads an RDS secret as a URL without the password, and the password apart', () => {
    expect(
      parseSecret(
        'db',
        { username: 'app', password: 'p@ss/word', host: 'db.internal', port: 5432, dbname: 'positivity' },
        'DB_SECRET_ARN',
      ),
    ).toEqual({ url: 'postgres://app@db.internal:5432/positivity', password: 'p@ss/word' });
  });

  it('names the fields an RDS secret lacks', () => {
    expect(() => parseSecret('db', { username: 'x' }, 'DB_SECRET_ARN')).toThrow(/lacks password, host/);
  });

  it('names a key the operator has not filled in, without echoing any value', () => {
    const attempt = () =>
      parseSecret('twilio', { TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: 'short-secret' }, 'twilio secret');
    expect(attempt).toThrow(/TWILIO_ACCOUNT_SID: .*\(missing\)[\s\S]*TWILIO_AUTH_TOKEN: .*\(given\)/);
    expect(attempt).not.toThrow(/short-secret/);
  });
});
