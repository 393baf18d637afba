// Importing a Lambda entry must not read secrets, connect or throw: its dependencies are built on the
// first invocation, so a missing secret fails that invocation (and is retried), not the container's init.
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryPath, LAMBDA_ENTRIES, type LambdaName } from '../../lib/lambda-bundling.js';

const saved = { ...process.env };
beforeAll(() => {
  for (const key of [
    'DATABASE_URL',
    'TWILIO_SECRET_ARN',
    'OPENAI_SECRET_ARN',
    'API_SECRET_ARN',
    'DB_SECRET_ARN',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
  ]) {
    delete process.env[key];
  }
});
afterAll(() => {
  process.env = saved;
});

describe('Lambda entry modules', () => {
  it.each(Object.keys(LAMBDA_ENTRIES) as LambdaName[])('%s imports with no configuration', async (name) => {
    const module = (await import(pathToFileURL(entryPath(name)).href)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
  });
});
