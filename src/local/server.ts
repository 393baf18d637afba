// The one-machine server: the webhooks app and the dev-phone page over @hono/node-server, the in-process
// scheduler, an hourly planner run and a daily retention cleanup (the daily EventBridge rules' stand-ins)
// and the outbox's callbacks.
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { createApp, webhookDeps } from '../http/app.js';
import { logger, withCorrelation } from '../logger.js';
import { runCleanup } from '../services/cleanup.js';
import { describeSendNowView, sendNowView } from '../services/operations.js';
import { type PlanSummary, planDay } from '../services/plan-day.js';
import { sendNow } from '../services/send-now.js';
import { createSubscriber, patchSubscriber } from '../services/subscribers.js';
import { startSpoolDrainer } from '../services/webhook-spool.js';
import { stageCapacity } from './capacity-command.js';
import { messageOf } from './describe.js';
import { createDevPage } from './dev-page.js';
import { announceServer, withdrawServer } from './local-database.js';
import type { SimulatorOptions } from './phone-simulator.js';
import { buildLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from './runtime.js';

export interface LocalServerOptions extends Omit<LocalRuntimeOptions, 'migrate' | 'preferRunningServer'> {
  /** Write .data/server.json so the CLI finds this server's database and URL (default true). */
  announce?: boolean;
  /** How often the planner runs after the first run at start (default hourly). */
  planEveryMs?: number;
  /** How often retention runs after the first run at start (default daily, as the cleanup Lambda). */
  cleanupEveryMs?: number;
  /** Interface to listen on (default 127.0.0.1: the dev page is for this machine only). */
  hostname?: string;
  /** How long stop() waits for work in progress, and then for requests being handled (default 10 s each). */
  shutdownGraceMs?: number;
}

export interface LocalServer {
  runtime: LocalRuntime;
  /** Where this process listens, e.g. http://127.0.0.1:3000. */
  url: string;
  /** What the dev page's phone texts this server with (signed as Twilio would). */
  simulator: SimulatorOptions;
  /** The first planner run (at start). */
  firstPlan: PlanSummary;
  stop(): Promise<void>;
}

export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const runtime = await buildLocalRuntime({ ...options, migrate: 'apply' });
  const { config } = runtime;
  let server: Server | undefined;
  let planner: NodeJS.Timeout | undefined;
  let cleaner: NodeJS.Timeout | undefined;
  let drainer: ReturnType<typeof startSpoolDrainer> | undefined;
  try {
    const app = createApp({
      config,
      db: runtime.db,
      sms: runtime.sms,
      scheduler: runtime.scheduler,
      limiter: runtime.limiter,
      clock: runtime.clock,
      metrics: runtime.metrics,
      spool: runtime.spool,
      // A test send through the API goes through the in-process scheduler, as the planner's do.
      starter: {
        start: async ({ deliveryId, windowEnd }) => {
          await runtime.scheduler.schedule({ deliveryId, at: runtime.clock.now(), windowEnd });
        },
      },
      capacity: config.CAPACITY_SETTINGS ?? stageCapacity(),
    });
    // Webhooks kept while Postgres was unreachable are applied once it answers (drainOrder).
    const spoolDeps = webhookDeps({
      config,
      db: runtime.db,
      scheduler: runtime.scheduler,
      sms: runtime.sms,
      clock: runtime.clock,
    });
    drainer = startSpoolDrainer(
      {
        inbound: { ...spoolDeps.inbound, retry: { budgetMs: 0 } },
        status: { ...spoolDeps.status, retry: { budgetMs: 0 } },
        replies: spoolDeps.replies,
        metrics: runtime.metrics,
      },
      runtime.spool,
    );
    const hostname = options.hostname ?? '127.0.0.1';
    const serverUrl = `http://${hostname}:${config.PORT}`;
    // Planner and retention runs in progress: stop() lets them finish before the pool closes.
    const running = new Set<Promise<unknown>>();
    const track = <T>(run: Promise<T>): Promise<T> => {
      running.add(run);
      void run.finally(() => running.delete(run)).catch(() => {});
      return run;
    };
    const planNow = () => track(withCorrelation({}, () => planDay(runtime.planDeps, runtime.clock.now())));
    // Without it nothing here would ever apply RETENTION_DAYS or PENDING_EXPIRY_DAYS: in AWS a daily rule runs
    // the cleanup Lambda.
    const cleanNow = () =>
      track(
        withCorrelation({}, () =>
          runCleanup({ db: runtime.db, clock: runtime.clock, metrics: runtime.metrics }, config),
        ),
      ).catch((error: unknown) => logger.error('local retention cleanup failed', { error }));
    const simulator: SimulatorOptions = {
      db: runtime.db,
      publicBaseUrl: config.PUBLIC_BASE_URL,
      serverUrl,
      authToken: config.secrets.TWILIO_AUTH_TOKEN,
      serviceNumber: runtime.serviceNumber,
    };
    app.route(
      '/',
      createDevPage({
        db: runtime.db,
        defaultTimeZone: config.DEFAULT_TIMEZONE,
        plannerHorizonHours: config.PLANNER_HORIZON_HOURS,
        port: config.PORT,
        simulator,
        actions: {
          addSubscriber: (input) => createSubscriber(runtime.subscriberDeps, input),
          setTimeZone: (phone, timeZone) => patchSubscriber(runtime.subscriberDeps, phone, { timeZone }),
          planToday: planNow,
          sendNow: async (phone) =>
            describeSendNowView(await sendNowView(runtime.db, await sendNow(runtime.sendNowDeps, phone))),
        },
      }),
    );

    server = await new Promise<Server>((resolve, reject) => {
      // Each request is its own unit of work for the logs: correlation keys one request appends (a
      // MessageSid) must not stick to the next request's lines, the planner's, or the scheduler's.
      const fetch = (request: Request, env: unknown) => withCorrelation({}, () => app.fetch(request, env));
      const s = serve({ fetch, port: config.PORT, hostname }, () => resolve(s as Server));
      s.once('error', reject);
    });

    // Armed only once the server listens: a send's status callbacks come back to it.
    await runtime.scheduler.start();
    await runtime.outbox?.resume();
    void cleanNow();
    const firstPlan = await planNow();
    planner = setInterval(() => {
      planNow().catch((error: unknown) =>
        logger.error('local planner run failed', { error: messageOf(error) }),
      );
    }, options.planEveryMs ?? 3_600_000);
    planner.unref();
    cleaner = setInterval(() => void cleanNow(), options.cleanupEveryMs ?? 86_400_000);
    cleaner.unref();
    if (options.announce ?? true) {
      await announceServer(
        {
          pid: process.pid,
          databaseUrl: runtime.database.url,
          appUrl: serverUrl,
          publicBaseUrl: config.PUBLIC_BASE_URL,
        },
        runtime.dataDir,
      );
    }

    const listening = server;
    const grace = options.shutdownGraceMs ?? 10_000;
    /** Planner and retention runs, sends and the outbox's callbacks in progress, until none is left. */
    const workInProgress = async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
      await runtime.inFlight();
      await runtime.outbox?.close();
    };
    let stopping: Promise<void> | undefined;
    return {
      runtime,
      url: serverUrl,
      simulator,
      firstPlan,
      // The order matters: work still running must never find its database closed under it.
      stop: () => {
        stopping ??= (async () => {
          // 1. Start nothing new: no planner or retention run, no timer-driven send, no spool round.
          clearInterval(planner);
          clearInterval(cleaner);
          runtime.scheduler.stop();
          await drainer?.stop();
          // 2. Finish what is running while the server still answers: a send's status callbacks come back
          //    to it. Carrier steps not yet taken stay queued in the outbox; resume() takes them at the
          //    next start.
          await within(grace, 'work in progress', workInProgress());
          // 3. Stop accepting connections; requests being handled finish (an inbound STOP is answered and
          //    recorded), then whatever they started.
          await closeServer(listening, grace);
          await within(grace, 'work started by the last requests', workInProgress());
          if (options.announce ?? true) await withdrawServer(runtime.dataDir);
          // 4. Only now the pools, then (when this process started it) Postgres.
          await runtime.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    clearInterval(planner);
    clearInterval(cleaner);
    await drainer?.stop();
    server?.close();
    await runtime.close();
    throw error;
  }
}

/** Waits for `work`, but no longer than `ms`: shutdown goes on (with a warning) if something hangs. */
async function within(ms: number, what: string, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    work.then(
      () => false,
      () => false,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), ms);
    }),
  ]);
  clearTimeout(timer);
  if (late) logger.warn(`shutdown: ${what} still running after ${ms} ms; stopping anyway`);
}

/** Stops listening and waits for the requests being handled; after `ms` their connections are cut. */
function closeServer(server: Server, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const cut = setTimeout(() => {
      logger.warn(`shutdown: requests still open after ${ms} ms; closing their connections`);
      server.closeAllConnections();
    }, ms);
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    // Keep-alive connections with no request in flight would hold close() open.
    server.closeIdleConnections();
  });
}
