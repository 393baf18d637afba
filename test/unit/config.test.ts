import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

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
      loadConfig(
        {
          TWILIO_MESSAGES_PER_SECOND: 'fast',
          SEND_WINDOW_START: '25:00',
          DEFAULT_TIMEZONE: 'Mars/Olympus_Mons',
          DATABASE_URL: 'mysql://x',
          OPENAI_MODEL: 'gpt-3.5-turbo',
          TWILIO_AUTH_TOKEN: 'short-secret',
        },
        { require: ['PUBLIC_BASE_URL', 'API_TOKEN'] },
      );
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
        'PUBLIC_BASE_URL: required here (missing)',
        'API_TOKEN: required here (missing)',
      ]) {
        expect(message).toContain(name);
      }
      expect(message).toContain('"fast"');
      expect(message).not.toContain('short-secret');
      expect((error as ConfigError).problems).toHaveLength(8);
    }
  });

  it('rejects a window that ends before it starts', () => {
    expect(() => loadConfig({ SEND_WINDOW_START: '17:00', SEND_WINDOW_END: '12:00' })).toThrow(
      /SEND_WINDOW_END: must be later than SEND_WINDOW_START/,
    );
  });

  it('reads secrets from a separate source (Secrets Manager JSON) when given', () => {
    const config = loadConfig(
      { OPENAI_API_KEY: 'sk-from-env-should-be-ignored-0000' },
      { secrets: { API_TOKEN: 'a'.repeat(32), OPENAI_API_KEY: 'sk-from-secret-manager-0000000' } },
    );
    expect(config.secrets.OPENAI_API_KEY).toBe('sk-from-secret-manager-0000000');
    expect(config.secrets.API_TOKEN).toBe('a'.repeat(32));
  });

  it('requires REDIS_URL when the redis store is chosen', () => {
    expect(() => loadConfig({ RATE_LIMIT_STORE: 'redis' })).toThrow(/REDIS_URL: required when/);
  });
});
