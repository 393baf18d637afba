// The operator's commands against a database on this machine (DATABASE_URL, the running `npm start`'s, or
// the embedded one): the same services as the server, returning the same views as the deployed API does.
// The runtime (and Postgres) starts on the first command that needs it; `capacity` reads files only.
import { loadCapacitySettings, StackSettingsError } from '../../lib/stack-settings.js';
import { InvalidZoneMix, parseZoneMix } from '../domain/capacity.js';
import { localDateAt } from '../domain/send-window.js';
import { buildDailyReport } from '../services/daily-report.js';
import {
  capacityView,
  deliveriesOfDate,
  listSubscriberPage,
  OperationError,
  type Operations,
  sendNowView,
  subscriberDetail,
} from '../services/operations.js';
import { sendNow } from '../services/send-now.js';
import { createSubscriber, patchSubscriber, removeSubscriber } from '../services/subscribers.js';
import { defaultStage } from './capacity-command.js';
import { runningServer } from './local-database.js';
import { buildLocalRuntime, type LocalRuntime } from './runtime.js';

export interface LocalOperationsOptions {
  env: Record<string, string | undefined>;
  dataDir: string;
}

export interface LocalOperations extends Operations {
  /** The runtime, started on first use (the CLI's local-only commands use it directly). */
  runtime(): Promise<LocalRuntime>;
}

export function localOperations(options: LocalOperationsOptions): LocalOperations {
  let started: Promise<LocalRuntime> | undefined;
  const runtime = () => {
    started ??= buildLocalRuntime({
      env: options.env,
      dataDir: options.dataDir,
      migrate: 'local',
      preferRunningServer: true,
      poolMax: 3,
    });
    return started;
  };
  const today = (rt: LocalRuntime) => rt.clock.now().toISOString().slice(0, 10);

  return {
    runtime,
    addSubscriber: async (input) => createSubscriber((await runtime()).subscriberDeps, input),
    listSubscribers: async (query) => listSubscriberPage((await runtime()).db, query),
    showSubscriber: async (phone, listing) => subscriberDetail((await runtime()).db, phone, listing),
    removeSubscriber: async (phone) => removeSubscriber((await runtime()).subscriberDeps, phone),
    setTimeZone: async (phone, timeZone) =>
      patchSubscriber((await runtime()).subscriberDeps, phone, { timeZone }),
    deliveries: async ({ date, bodies }) => {
      const rt = await runtime();
      return deliveriesOfDate(rt.db, date ?? localDateAt(rt.config.DEFAULT_TIMEZONE, rt.clock.now()), {
        bodies,
      });
    },
    usage: async (day) => {
      const rt = await runtime();
      return buildDailyReport({ db: rt.db }, day ?? today(rt));
    },
    capacity: async ({ subscribers, zones, stage = defaultStage(), set }) => {
      try {
        const settings = loadCapacitySettings({ stage, overrides: set });
        return capacityView(
          { stage, settings },
          subscribers,
          zones ? parseZoneMix(zones, new Date()) : undefined,
        );
      } catch (error) {
        if (error instanceof InvalidZoneMix) throw new OperationError('bad_input', error.message);
        // --stage and --set are what the operator typed (and config/<stage>.json what --stage names):
        // bad input, in one line.
        if (error instanceof StackSettingsError)
          throw new OperationError('bad_input', `settings for stage ${stage}: ${error.problems.join('; ')}`);
        throw error;
      }
    },
    // In this process, through the real sender: there is nothing to wait for afterwards.
    sendNow: async (phone) => {
      const rt = await runtime();
      return sendNowView(rt.db, await sendNow(rt.sendNowDeps, phone));
    },
    close: async () => {
      // A runtime that failed to start has already reported why, and holds nothing to close.
      const rt = await started?.catch(() => undefined);
      if (!rt) return;
      // With a server running, the outbox's status callbacks go to it: let them land before exiting.
      if (rt.outbox && (await runningServer(rt.dataDir))) await rt.outbox.drain();
      await rt.close();
    },
  };
}
