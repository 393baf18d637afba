// Child process for the webhooks load test, so the load generator and the server do not share one event
// loop: `serve.ts app|bare|bare-call` with BENCH_DATABASE_URL set; prints {"url": …} once listening, and
// stops on SIGTERM. `app` is the real application (createApp + @hono/node-server, Postgres limiter); `bare`
// and `bare-call` are the baselines in bare-server.ts (one INSERT; the app's SQL call with its settings).
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { fixedCredentials } from '../../src/adapters/credentials.js';
import { createRateLimiter } from '../../src/adapters/rate-limiter.js';
import { loadConfig, requireSettings } from '../../src/config.js';
import { createPool, dbOnPool } from '../../src/db/connection.js';
import { createApp } from '../../src/http/app.js';
import type { DeliveryScheduler, SmsSender } from '../../src/services/ports.js';
import { startBareCallServer, startBareServer } from './bare-server.js';

export const BENCH_AUTH_TOKEN = 'bench-auth-token-0123456789abcdef';
export const BENCH_PUBLIC_BASE_URL = 'https://bench.example.com';
/** Connections each server may open, the same for every one. */
export const SERVER_POOL_MAX = 10;
/** The per-sender and per-message limits, set high enough never to refuse under load. */
const NEVER_REFUSED = 100_000_000;

async function main(kind: string | undefined, databaseUrl: string | undefined): Promise<void> {
  if (!databaseUrl) throw new Error('BENCH_DATABASE_URL is not set');
  const settings = loadConfig({
    LOG_LEVEL: 'SILENT',
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    PUBLIC_BASE_URL: BENCH_PUBLIC_BASE_URL,
    TWILIO_AUTH_TOKEN: BENCH_AUTH_TOKEN,
    // The deployed store (Postgres, shared by every Lambda).
    RATE_LIMIT_STORE: process.env.BENCH_LIMITER_STORE === 'memory' ? 'memory' : 'postgres',
    RATE_LIMIT_INBOUND_PER_MIN: String(NEVER_REFUSED),
    RATE_LIMIT_STATUS_PER_MIN: String(NEVER_REFUSED),
  });
  if (kind === 'bare' || kind === 'bare-call') {
    const bare =
      kind === 'bare'
        ? await startBareServer(databaseUrl, SERVER_POOL_MAX)
        : await startBareCallServer(
            databaseUrl,
            { defaultTimeZone: settings.DEFAULT_TIMEZONE, limitPerMinute: NEVER_REFUSED },
            SERVER_POOL_MAX,
          );
    console.log(JSON.stringify({ url: bare.url }));
    process.once('SIGTERM', () => void bare.close().then(() => process.exit(0)));
    return;
  }
  if (kind !== 'app') throw new Error(`expected app, bare or bare-call, got ${kind}`);
  const pool = createPool({ connectionString: databaseUrl, max: SERVER_POOL_MAX });
  pool.on('error', (error) => console.error(`app server: idle database connection closed: ${error.message}`));
  const db = dbOnPool(pool);
  const limiter = await createRateLimiter({ config: settings, pool });
  // Inbound texts never send or schedule; an opt-out cancels schedules, which here answer at once.
  const sms: SmsSender = {
    send: async () => {
      throw new Error('the webhooks bench sends no SMS');
    },
  };
  const scheduler: DeliveryScheduler = {
    schedule: async () => {
      throw new Error('the webhooks never schedule');
    },
    cancel: async () => {},
  };
  const config = {
    ...requireSettings(settings, ['PUBLIC_BASE_URL']),
    credentials: { twilio: fixedCredentials({ authToken: BENCH_AUTH_TOKEN }) },
  };
  const app = createApp({ config, db, sms, scheduler, limiter });
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${info.port}` }));
  });
  process.once('SIGTERM', () => {
    server.close();
    void limiter
      .close()
      .then(() => db.destroy())
      .then(() => process.exit(0));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv[2], process.env.BENCH_DATABASE_URL).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
