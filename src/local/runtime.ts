// One-machine mode's composition root: builds the same services the Lambdas run, wired to local stand-ins
// where an outside system is not configured. `npm start` and the operator CLI both use it, so they run
// the same code against the same data.

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import * as z from 'zod';
import { type ApiCredentials, type Credentials, fixedCredentials } from '../adapters/credentials.js';
import { createCuratedWriter } from '../adapters/curated-writer.js';
import { createDirectorySpool } from '../adapters/directory-spool.js';
import { createRateLimiter, type LimiterStore, type StoreRateLimiter } from '../adapters/rate-limiter.js';
import { type Config, loadConfig, sendWindow } from '../config.js';
import { createPool, type Db, dbOnPool } from '../db/connection.js';
import { migrateToLatest, migrationStatus } from '../db/migrator.js';
import type { TwilioSigningCredentials } from '../http/twilio.js';
import { logger, withCorrelation } from '../logger.js';
import { countSendOutcome, InMemoryMetricsSink } from '../metrics.js';
import type { PlanDayDeps } from '../services/plan-day.js';
import { type Clock, type MessageWriter, type SmsSender, systemClock } from '../services/ports.js';
import { type SendDeps, sendDailyMessage } from '../services/send-daily-message.js';
import type { SendNowDeps } from '../services/send-now.js';
import type { SubscriberDeps } from '../services/subscribers.js';
import type { DrainableSpool } from '../services/webhook-spool.js';
import { buildSenderDeps } from '../wiring/sender.js';
import { twilioSms } from '../wiring/twilio.js';
import { createInProcessScheduler, type InProcessScheduler } from './in-process-scheduler.js';
import { dataDirectory, type LocalDatabase, openLocalDatabase, runningServer } from './local-database.js';
import { OutboxSmsSender } from './outbox.js';

/** Twilio's magic test number: what outbox texts appear to come from when TWILIO_FROM_NUMBER is unset. */
const OUTBOX_DEFAULT_FROM = '+15005550006';

/** The settings one-machine mode always has (defaults or generated when not given). */
type LocalConfig = Config & {
  PUBLIC_BASE_URL: string;
  secrets: Config['secrets'] & { TWILIO_AUTH_TOKEN: string; API_TOKEN: string };
  /** The same tokens as the webhooks app takes them (fixed here: nothing rotates locally). */
  credentials: { twilio: Credentials<TwilioSigningCredentials>; api: Credentials<ApiCredentials> };
};

type Origin = 'env' | 'generated';

export interface RuntimeModes {
  database: LocalDatabase['source'];
  sms: 'twilio' | 'outbox';
  writer: 'openai' | 'curated';
  limiter: LimiterStore;
  authToken: Origin;
  apiToken: Origin;
  publicBaseUrl: 'env' | 'running server' | 'default';
}

export interface LocalRuntime {
  config: LocalConfig;
  dataDir: string;
  database: LocalDatabase;
  db: Db;
  pool: pg.Pool;
  sms: SmsSender;
  /** The outbox when SMS is the stand-in, else null. */
  outbox: OutboxSmsSender | null;
  /** The number the service texts from (inbound "To" for the phone simulator). */
  serviceNumber: string;
  writer: MessageWriter;
  limiter: StoreRateLimiter;
  scheduler: InProcessScheduler;
  metrics: InMemoryMetricsSink;
  clock: Clock;
  sendDeps: SendDeps;
  subscriberDeps: SubscriberDeps;
  planDeps: PlanDayDeps;
  sendNowDeps: SendNowDeps;
  /** Where signed webhooks wait while Postgres is unreachable (<dataDir>/webhook-spool). */
  spool: DrainableSpool;
  modes: RuntimeModes;
  /** Sends the in-process scheduler has started and not yet finished. */
  inFlight(): Promise<void>;
  /** Closes the pool, the limiter and, when this process started it, embedded Postgres. */
  close(): Promise<void>;
}

/** Thrown when the database needs migrations this process will not apply itself. */
export class DatabaseNotMigrated extends Error {
  constructor(pending: string[]) {
    super(`the database has ${pending.length} pending migration(s); run \`positivity migrate\` first`);
    this.name = 'DatabaseNotMigrated';
  }
}

export interface LocalRuntimeOptions {
  env?: Record<string, string | undefined>;
  /** Where .data lives (embedded Postgres, generated secrets, server.json). Default ./.data. */
  dataDir?: string;
  /**
   * 'apply': migrate to latest (npm start). 'local': apply on local data, but refuse to touch a database
   * named by DATABASE_URL (the CLI: migrating a shared database is the `migrate` command's job).
   */
  migrate: 'apply' | 'local';
  /** Use the running server's PUBLIC_BASE_URL (the CLI: outbox callbacks then reach that server). */
  preferRunningServer?: boolean;
  clock?: Clock;
  outboxStepDelayMs?: number;
  poolMax?: number;
  onPostgresLog?: (line: string) => void;
}

const LocalSecretsFile = z.object({ TWILIO_AUTH_TOKEN: z.string().min(16), API_TOKEN: z.string().min(24) });
type LocalSecrets = z.infer<typeof LocalSecretsFile>;

/**
 * Tokens generated for this machine, kept in .data/local-secrets.json (mode 0600) so the server, the CLI
 * and a restart agree on them. Only used for what the environment does not set.
 */
export async function localSecrets(dataDir: string): Promise<LocalSecrets> {
  const file = path.join(dataDir, 'local-secrets.json');
  const saved = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    // Only a missing file means "first run". Any other error surfaces: new tokens would silently break
    // what the running server, the CLI and any configured Twilio webhook agree on.
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (saved !== null) {
    const parsed = LocalSecretsFile.safeParse(parseJson(saved));
    if (parsed.success) return parsed.data;
    throw new Error(`${file} is not a valid local secrets file; delete it to generate new tokens`);
  }
  const secrets = {
    TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
    API_TOKEN: randomBytes(24).toString('base64url'),
  };
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return secrets;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function buildLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const loaded = loadConfig(options.env ?? process.env);
  const dataDir = options.dataDir ?? dataDirectory();
  const clock = options.clock ?? systemClock;
  const generated = await localSecrets(dataDir);
  const running = options.preferRunningServer ? await runningServer(dataDir) : null;
  const publicBaseUrl = loaded.PUBLIC_BASE_URL ?? running?.publicBaseUrl ?? `http://localhost:${loaded.PORT}`;
  const authToken = loaded.secrets.TWILIO_AUTH_TOKEN ?? generated.TWILIO_AUTH_TOKEN;
  const apiToken = loaded.secrets.API_TOKEN ?? generated.API_TOKEN;
  const config: LocalConfig = {
    ...loaded,
    PUBLIC_BASE_URL: publicBaseUrl,
    secrets: { ...loaded.secrets, TWILIO_AUTH_TOKEN: authToken, API_TOKEN: apiToken },
    credentials: {
      // Without TWILIO_ACCOUNT_SID any signed webhook that fails the check is warned about (src/http/twilio.ts).
      twilio: fixedCredentials({ authToken, accountSid: loaded.secrets.TWILIO_ACCOUNT_SID }),
      api: fixedCredentials({ apiToken }),
    },
  };

  const database = await openLocalDatabase(config.DATABASE_URL, { dataDir, log: options.onPostgresLog });
  const pool = createPool({
    connectionString: database.url,
    ssl: config.DATABASE_SSL,
    max: options.poolMax ?? 10,
    applicationName: 'daily-positivity-local',
  });
  // An idle connection the server cuts (a restarted DATABASE_URL server) is logged, not a crash.
  pool.on('error', (error) => logger.warn('database connection closed', { error }));
  const db = dbOnPool(pool);
  try {
    if (options.migrate === 'apply' || database.source !== 'DATABASE_URL') await migrateToLatest(db);
    else {
      const pending = (await migrationStatus(db)).filter((m) => !m.executedAt).map((m) => m.name);
      if (pending.length > 0) throw new DatabaseNotMigrated(pending);
    }
  } catch (error) {
    await db.destroy();
    await database.release();
    throw error;
  }

  const metrics = new InMemoryMetricsSink();
  const limiterStore: LimiterStore = config.RATE_LIMIT_STORE ?? 'memory';
  const limiter = await createRateLimiter({
    config: { ...config, RATE_LIMIT_STORE: limiterStore },
    pool: limiterStore === 'memory' ? undefined : pool,
    metrics,
  });

  const { TWILIO_ACCOUNT_SID, OPENAI_API_KEY } = config.secrets;
  const twilio =
    TWILIO_ACCOUNT_SID !== undefined &&
    loaded.secrets.TWILIO_AUTH_TOKEN !== undefined &&
    (config.TWILIO_FROM_NUMBER !== undefined || config.TWILIO_MESSAGING_SERVICE_SID !== undefined)
      ? { accountSid: TWILIO_ACCOUNT_SID, authToken: loaded.secrets.TWILIO_AUTH_TOKEN }
      : null;
  const serviceNumber = config.TWILIO_FROM_NUMBER ?? OUTBOX_DEFAULT_FROM;
  // Twilio's Advanced Opt-Out answers STOP/START/HELP itself; the outbox has no such service, so unless told
  // otherwise our own replies are switched on and the simulated subscriber sees an answer.
  if (!twilio && !(options.env ?? process.env).TWILIO_ADVANCED_OPT_OUT)
    config.TWILIO_ADVANCED_OPT_OUT = false;
  let outbox: OutboxSmsSender | null = null;
  let sms: SmsSender;
  if (twilio) sms = twilioSms(config, twilio);
  else
    sms = outbox = new OutboxSmsSender({
      db,
      from: serviceNumber,
      authToken: config.secrets.TWILIO_AUTH_TOKEN,
      stepDelayMs: options.outboxStepDelayMs,
    });

  // The OpenAI SDK loads only when configured: it takes seconds to import on a busy machine.
  const writer: MessageWriter = OPENAI_API_KEY
    ? (await import('../wiring/openai.js')).openAiWriter(
        config,
        fixedCredentials({ apiKey: OPENAI_API_KEY }),
        {
          limiter,
          clock,
        },
      )
    : createCuratedWriter();

  const sendDeps: SendDeps = buildSenderDeps(config, {
    db,
    sms,
    writer,
    limiter,
    clock,
    // The in-process scheduler below (it needs sendDeps itself): a send-time opt-out cancels its timers.
    scheduler: {
      schedule: (request) => scheduler.schedule(request),
      cancel: (deliveryId) => scheduler.cancel(deliveryId),
    },
  });
  const sending = new Set<Promise<unknown>>();
  const scheduler = createInProcessScheduler({
    db,
    clock,
    onDue: (deliveryId) => {
      // The same numbers the Lambdas publish, counted from the outcome (shown by the CLI and dev page).
      const work = withCorrelation({ deliveryId }, () => sendDailyMessage(sendDeps, deliveryId)).then(
        (outcome) => {
          countSendOutcome(metrics, outcome);
          return outcome;
        },
      );
      sending.add(work);
      void work.finally(() => sending.delete(work)).catch(() => {});
      return work;
    },
  });

  return {
    config,
    dataDir,
    database,
    db,
    pool,
    sms,
    outbox,
    serviceNumber,
    writer,
    limiter,
    scheduler,
    metrics,
    clock,
    sendDeps,
    spool: createDirectorySpool(path.join(dataDir, 'webhook-spool')),
    subscriberDeps: {
      db,
      sms,
      scheduler,
      clock,
      window: sendWindow(config),
      // The CLI and the dev page are an operator acting on this machine, not an API client.
      consentSource: 'operator',
      settings: {
        serviceName: config.SERVICE_NAME,
        helpContact: config.HELP_CONTACT,
        defaultTimeZone: config.DEFAULT_TIMEZONE,
        statusCallbackUrl: `${publicBaseUrl}/twilio/status`,
      },
    },
    planDeps: { db, scheduler, settings: config },
    sendNowDeps: { send: sendDeps, scheduler, window: sendWindow(config) },
    modes: {
      database: database.source,
      sms: outbox ? 'outbox' : 'twilio',
      writer: OPENAI_API_KEY ? 'openai' : 'curated',
      limiter: limiter.store,
      authToken: loaded.secrets.TWILIO_AUTH_TOKEN ? 'env' : 'generated',
      apiToken: loaded.secrets.API_TOKEN ? 'env' : 'generated',
      publicBaseUrl: loaded.PUBLIC_BASE_URL ? 'env' : running ? 'running server' : 'default',
    },
    inFlight: async () => {
      while (sending.size > 0) await Promise.allSettled([...sending]);
    },
    close: async () => {
      scheduler.stop();
      await Promise.allSettled([...sending]);
      await outbox?.close();
      await limiter.close();
      await db.destroy();
      await database.release();
    },
  };
}
