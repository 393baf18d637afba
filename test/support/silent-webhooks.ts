// The webhooks Lambda as deployed (createWebhooksHandler with deployedWebhookAdapters) with every AWS call
// of the process, and the webhook spool's SQS, pointed at a server that accepts and never answers: for the
// suites that check what a request does when an outside call hangs or time runs out.
import { afterAll, beforeAll } from 'vitest';
import { createWebhooksHandler } from '../../src/handlers/webhooks.js';
import { deployedWebhookAdapters } from '../../src/wiring/webhooks.js';
import { awsEnvAt, type SilentServer, startSilentServer } from './silent-servers.js';
import { AUTH_TOKEN } from './webhook-doubles.js';
import { WEBHOOKS_ENV } from './webhooks-env.js';

export const SILENT_API_TOKEN = 'test-api-token-0123456789abcdefghij';

/** Starts the silent server before the suite and points AWS at it; restores the environment after. */
export function useSilentAws(): () => SilentServer {
  const saved = { ...process.env };
  let silent: SilentServer | undefined;
  beforeAll(async () => {
    silent = await startSilentServer();
    Object.assign(process.env, awsEnvAt(silent.url));
  });
  afterAll(async () => {
    process.env = saved;
    await silent?.close();
  });
  return () => {
    if (!silent) throw new Error('useSilentAws(): the silent server is ready only inside tests and hooks');
    return silent;
  };
}

/** The webhooks Lambda's environment (secrets from env, as locally), a cold start of its own each time. */
export function silentWebhooksHandler(
  silent: SilentServer,
  databaseUrl: string,
  env: Record<string, string> = {},
) {
  return createWebhooksHandler(deployedWebhookAdapters, {
    ...WEBHOOKS_ENV,
    PUBLIC_BASE_URL: 'https://sms.example.com',
    DATABASE_URL: databaseUrl,
    TWILIO_ACCOUNT_SID: `AC${'b2'.repeat(16)}`,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_FROM_NUMBER: '+14155550100',
    API_TOKEN: SILENT_API_TOKEN,
    RATE_LIMIT_STORE: 'memory',
    // SQS sends to the queue URL's host: TLS to a server that never answers the handshake.
    WEBHOOK_SPOOL_QUEUE_URL: `https://127.0.0.1:${silent.port}/123456789012/daily-positivity-webhook-spool`,
    ...env,
  });
}
