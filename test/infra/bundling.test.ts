// What the Lambda bundles leave out must be what the deployed Lambdas can never load. ioredis is external
// (lib/lambda-bundling.ts): the stack never gives a Lambda REDIS_URL or RATE_LIMIT_STORE=redis, so the
// limiter's store there is Postgres, and the Redis store's `await import('ioredis')` is never reached.
import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_OPTIONS } from '../../lib/lambda-bundling.js';
import { chooseStore } from '../../src/adapters/rate-limiter.js';
import { loadConfig } from '../../src/config.js';
import { resources, synthesize } from './support.js';

let functions: { name: string; vars: Record<string, string> }[];
beforeAll(() => {
  const template = synthesize().template();
  functions = Object.values(resources(template, 'AWS::Lambda::Function'))
    .map((fn) => ({
      vars: ((fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
        {}) as Record<string, unknown>,
    }))
    .filter(({ vars }) => String(vars.POWERTOOLS_SERVICE_NAME ?? '').startsWith('daily-positivity-'))
    .map(({ vars }) => ({
      name: String(vars.POWERTOOLS_SERVICE_NAME),
      // Tokens (ARNs, endpoints) are not strings until deploy; the store choice reads only plain settings.
      vars: Object.fromEntries(
        Object.entries(vars).filter((e): e is [string, string] => typeof e[1] === 'string'),
      ),
    }));
});

describe('what the bundles leave out', () => {
  it('leaves ioredis out of every Lambda bundle', () => {
    expect(BUNDLE_OPTIONS.external).toContain('ioredis');
  });

  it('gives no deployed Lambda a setting that would choose the Redis store', () => {
    expect(functions.length).toBeGreaterThan(5);
    for (const { name, vars } of functions) {
      expect(vars, name).not.toHaveProperty('REDIS_URL');
      expect(chooseStore(loadConfig(vars), true), name).not.toBe('redis');
    }
  });
});
