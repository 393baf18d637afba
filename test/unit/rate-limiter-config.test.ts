import { describe, expect, it } from 'vitest';
import { budgetsFromConfig, chooseStore } from '../../src/adapters/rate-limiter.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('rate limiter configuration', () => {
  it.each([
    [{ RATE_LIMIT_STORE: 'memory', REDIS_URL: 'redis://r:6379' }, true, 'memory'],
    [{ RATE_LIMIT_STORE: 'postgres' }, true, 'postgres'],
    [{ REDIS_URL: 'redis://r:6379' }, true, 'redis'],
    [{ REDIS_URL: 'redis://r:6379' }, false, 'redis'],
    [{}, true, 'postgres'],
    [{}, false, 'memory'],
  ] as const)('chooses the store for %j (pool given: %s) → %s', (env, hasPool, store) => {
    expect(chooseStore(loadConfig(env), hasPool)).toBe(store);
  });

  it('takes every budget from the configured limits', () => {
    const config = loadConfig({
      RATE_LIMIT_API_PER_MIN: '5',
      OPENAI_REQUESTS_PER_MIN: '8',
      OPENAI_TOKENS_PER_MIN: '900',
      TWILIO_MESSAGES_PER_SECOND: '2',
      TWILIO_MESSAGES_PER_DAY: '300',
    });
    expect(budgetsFromConfig(config)).toEqual({
      api: { points: 5, durationSec: 60 },
      openai_requests: { points: 8, durationSec: 60 },
      openai_tokens: { points: 900, durationSec: 60 },
      sms_per_second: { points: 2, durationSec: 1 },
      sms_per_day: { points: 300, durationSec: 2 * 86_400 },
    });
  });

  it('refuses to start with invalid limit values, naming each one', () => {
    const bad = {
      RATE_LIMIT_API_PER_MIN: '0',
      RATE_LIMIT_INBOUND_PER_MIN: '-1',
      RATE_LIMIT_STATUS_PER_MIN: 'lots',
      OPENAI_REQUESTS_PER_MIN: '1.5',
      // (An empty value means the default, as for every setting: test/unit/config.test.ts.)
      OPENAI_TOKENS_PER_MIN: '0',
      TWILIO_MESSAGES_PER_SECOND: '5000',
      TWILIO_MESSAGES_PER_DAY: '0',
      RATE_LIMIT_STORE: 'dynamo',
    };
    let error: unknown;
    try {
      loadConfig(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    for (const name of Object.keys(bad)) {
      expect(problems.some((p) => p.startsWith(`${name}:`))).toBe(true);
    }
  });

  it('requires REDIS_URL when the Redis store is chosen', () => {
    expect(() => loadConfig({ RATE_LIMIT_STORE: 'redis' })).toThrow(
      /REDIS_URL: required when RATE_LIMIT_STORE=redis/,
    );
  });
});
