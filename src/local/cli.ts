// The operator CLI (`npx positivity …`): against DATABASE_URL, the running local server's database or the
// embedded one in ./.data — or, with `--api <url>` (or POSITIVITY_API_URL), against a deployed stack's API
// with the token in POSITIVITY_API_TOKEN. Both paths return the same views (src/services/operations.ts),
// so every command prints the same JSON and exits with the same code either way. Bad input exits 2,
// refusals and failures 1, each with one line on stderr (and, with --json, an error object on stdout).

import { Command, CommanderError, InvalidArgumentError } from 'commander';
import * as z from 'zod';
import { remoteOperations } from '../adapters/operations-api.js';
import { ConfigError, loadConfig } from '../config.js';
import { createDb, isDbUnavailable } from '../db/connection.js';
import { MigrationBlocked, migrateToLatest } from '../db/migrator.js';
import { dueDeliveries } from '../db/repositories/deliveries/planning.js';
import { isCalendarDate } from '../domain/calendar-date.js';
import { InvalidZoneMix, parseZoneMix } from '../domain/capacity.js';
import type { E164 } from '../domain/phone.js';
import { isSubscriberStatus, SUBSCRIBER_STATUSES, type SubscriberStatus } from '../domain/subscriber.js';
import {
  InvalidSubscriberInput,
  NameField,
  PhoneField,
  parseSubscriberInput,
  TimeZoneField,
} from '../domain/subscriber-fields.js';
import type { TimeZone } from '../domain/time-zone.js';
import { logger } from '../logger.js';
import { runCleanup } from '../services/cleanup.js';
import { summarizeReport } from '../services/daily-report.js';
import {
  describeSendNowView,
  OperationError,
  type Operations,
  type SubscriberQuery,
} from '../services/operations.js';
import type { ErrorCode } from '../services/operator-views.js';
import { planDay } from '../services/plan-day.js';
import { sendDailyMessage } from '../services/send-daily-message.js';
import { SendNowRefused } from '../services/send-now.js';
import {
  SignUpIncomplete,
  SubscriberConflict,
  SubscriberNotFound,
  type SubscriberView,
} from '../services/subscribers.js';
import { describeCapacity } from './capacity-command.js';
import { describePlan, messageOf } from './describe.js';
import { dataDirectory, openLocalDatabase } from './local-database.js';
import { localOperations } from './local-operations.js';
import { DatabaseNotMigrated, type LocalRuntime } from './runtime.js';

/** Bad input: the command line is wrong (exit 2). */
class BadInput extends Error {}

const EXIT_FAILED = 1;
const EXIT_BAD_INPUT = 2;

// Subscriber fields are checked by the same rules, in the same words, as the API and the dev page.
const phoneArg = (phone: string): E164 =>
  parseSubscriberInput(z.object({ phone: PhoneField }), { phone }).phone;
const zoneArg = (timeZone: string): TimeZone =>
  parseSubscriberInput(z.object({ timeZone: TimeZoneField }), { timeZone }).timeZone;
const nameArg = (name: string | undefined): string | null =>
  name?.trim() ? parseSubscriberInput(z.object({ name: NameField }), { name }).name : null;

/** A date as the API takes it (src/domain/calendar-date.ts): refused here, before any database is opened. */
function dateArg(value: string): string {
  if (!isCalendarDate(value))
    throw new BadInput(`not a date: ${JSON.stringify(value)} (use YYYY-MM-DD, 0001-01-01 to 9999-12-31)`);
  return value;
}

function statusArg(value: string): SubscriberStatus {
  if (!isSubscriberStatus(value))
    throw new BadInput(`unknown status ${JSON.stringify(value)} (one of ${SUBSCRIBER_STATUSES.join(', ')})`);
  return value;
}

function wholeNumber(min: number, max: number, what: string) {
  return (value: string): number => {
    const n = Number(value.replaceAll(/[,_]/g, ''));
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected ${what} from ${min} to ${max}`);
    return n;
  };
}

/** Checked here, sent as typed: the local and the remote path refuse a bad mix the same way. */
function zonesArg(value: string): string {
  try {
    parseZoneMix(value, new Date());
  } catch (error) {
    if (error instanceof InvalidZoneMix) throw new InvalidArgumentError(error.message);
    throw error;
  }
  return value;
}

function settingArg(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError(`expected key=value, such as twilioMessagesPerSecond=6`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

interface Output<T> {
  json: T;
  text: string;
}

interface JsonFlag {
  json?: boolean;
}

/** Where the CLI writes and what environment it reads (the process's, or a test's). */
export interface CliIo {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
}

/** What commands run against: the deployed API (`--api`/POSITIVITY_API_URL) or this machine. */
type Target = { kind: 'remote'; url: string } | { kind: 'local' };

function targetOf(command: Command, env: CliIo['env']): Target {
  const given = (command.optsWithGlobals() as { api?: string }).api ?? env.POSITIVITY_API_URL;
  if (given === undefined || given === '') return { kind: 'local' };
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new BadInput(`not a URL: ${JSON.stringify(given)} (use the stack's PublicBaseUrl, https://…)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new BadInput(`not an http(s) URL: ${JSON.stringify(given)}`);
  if (url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname))
    throw new BadInput(`refusing to send the API token over plain http to ${url.hostname}; use https`);
  return { kind: 'remote', url: url.toString() };
}

function subscriberLine(s: SubscriberView): string {
  const name = s.name ? ` ${s.name}` : '';
  return `${s.phone}  ${s.status}${s.paused ? ' (paused)' : ''}  ${s.timeZone}${name}`;
}

function jsonOption(command: Command): Command {
  return command.option('--json', 'print machine-readable JSON');
}

/** Why a command does not run against a deployed stack, and what to do there instead. */
const LOCAL_ONLY: Record<string, string> = {
  plan: 'the planner runs daily in AWS; to run it now: aws lambda invoke --function-name <PlannerFunctionName> /dev/stdout',
  'send-due':
    'EventBridge Scheduler sends each delivery at its time in AWS; for a test send use `send-now <phone>`',
  cleanup: 'the cleanup job applies the retention rules daily in AWS; it is not exposed over the API',
  migrate: 'migrations run during each deploy in AWS (MigrateFunctionName); the API never migrates',
};

function buildProgram(io: CliIo): Command {
  const print = <T>(flags: JsonFlag, out: Output<T>) =>
    io.out(flags.json ? JSON.stringify(out.json, null, 2) : out.text);

  /** Runs one command through the Operations of its target: prints its result, closes, sets the exit code. */
  async function withOperations<T>(
    command: Command,
    flags: JsonFlag,
    work: (ops: Operations) => Promise<Output<T>>,
  ): Promise<void> {
    const target = targetOf(command, io.env);
    let ops: Operations;
    if (target.kind === 'remote') {
      const token = io.env.POSITIVITY_API_TOKEN;
      if (!token)
        throw new BadInput(
          'POSITIVITY_API_TOKEN is not set: export the API token (API_TOKEN of the stack) before using --api',
        );
      ops = remoteOperations({ baseUrl: target.url, token });
    } else ops = localOperations({ env: io.env, dataDir: dataDirectory(io.env) });
    try {
      print(flags, await work(ops));
    } finally {
      await ops.close();
    }
  }

  /** A command that needs this machine's database: refused with --api, and why. */
  async function withRuntime<T>(
    command: Command,
    flags: JsonFlag,
    work: (rt: LocalRuntime) => Promise<Output<T>>,
  ): Promise<void> {
    if (targetOf(command, io.env).kind === 'remote')
      throw new BadInput(`\`${command.name()}\` does not run against --api: ${LOCAL_ONLY[command.name()]}`);
    const ops = localOperations({ env: io.env, dataDir: dataDirectory(io.env) });
    try {
      print(flags, await work(await ops.runtime()));
    } finally {
      await ops.close();
    }
  }

  const program = new Command('positivity')
    .description(
      'Operate Daily Positivity SMS: subscribers, planning, sending, usage, retention, migrations — on this ' +
        'machine, or on a deployed stack with --api.',
    )
    .option(
      '--api <url>',
      'operate a deployed stack through its API (its PublicBaseUrl; default POSITIVITY_API_URL); the token comes from POSITIVITY_API_TOKEN, never a flag',
    )
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      // Usage errors are printed by runCli, as one `positivity: …` line like every other error.
      outputError: () => {},
    })
    .exitOverride();

  const subscribers = program.command('subscribers');

  jsonOption(subscribers.command('add <phone>'))
    .description('add a pending subscriber and text them the opt-in request (they confirm with YES)')
    .option('--tz <zone>', 'IANA time zone (default DEFAULT_TIMEZONE)')
    .option('--name <name>', 'first name used in greetings')
    .action(async (phoneText: string, opts: JsonFlag & { tz?: string; name?: string }, command: Command) => {
      const phone = phoneArg(phoneText);
      const timeZone = opts.tz === undefined ? undefined : zoneArg(opts.tz);
      const name = nameArg(opts.name);
      await withOperations(command, opts, async (ops) => {
        const view = await ops.addSubscriber({ phone, timeZone, name });
        return { json: view, text: `added ${subscriberLine(view)}; opt-in request sent` };
      });
    });

  jsonOption(subscribers.command('list'))
    .description('list subscribers in the order they were added, a page at a time')
    .option('--status <status>', 'only pending, active or opted_out')
    .option('--paused', 'only paused subscribers')
    .option('--no-paused', 'only subscribers who are not paused')
    .option('--tz <zone>', 'only subscribers in this IANA time zone')
    .option('--limit <n>', 'page size (1-1000)', wholeNumber(1, 1000, 'a page size'), 100)
    .option('--after <cursor>', 'the next page: the `next` of the previous one')
    .action(
      async (
        opts: JsonFlag & { status?: string; paused?: boolean; tz?: string; limit: number; after?: string },
        command: Command,
      ) => {
        const query: SubscriberQuery = {
          status: opts.status === undefined ? undefined : statusArg(opts.status),
          paused: opts.paused,
          timeZone: opts.tz === undefined ? undefined : zoneArg(opts.tz),
          limit: opts.limit,
          after: opts.after,
        };
        await withOperations(command, opts, async (ops) => {
          const page = await ops.listSubscribers(query);
          const lines = page.subscribers.length ? page.subscribers.map(subscriberLine) : ['(no subscribers)'];
          if (page.next) lines.push(`(more: --after ${page.next})`);
          return { json: page, text: lines.join('\n') };
        });
      },
    );

  jsonOption(subscribers.command('show <phone>'))
    .description('one subscriber and their latest 10 deliveries')
    .option('--bodies', 'include the text of each message')
    .action(async (phoneText: string, opts: JsonFlag & { bodies?: boolean }, command: Command) => {
      const phone = phoneArg(phoneText);
      await withOperations(command, opts, async (ops) => {
        const detail = await ops.showSubscriber(phone, { bodies: opts.bodies });
        const { deliveries, ...view } = detail;
        const lines = deliveries.flatMap((d) => [
          `  ${d.localDate}  ${d.state}${d.reason ? ` (${d.reason})` : ''}  ${d.deliveryStatus ?? ''}`,
          ...(d.body ? [`    ${d.body}`] : []),
        ]);
        return {
          json: detail,
          text: [subscriberLine(view), ...(lines.length ? lines : ['  (no deliveries yet)'])].join('\n'),
        };
      });
    });

  jsonOption(subscribers.command('remove <phone>'))
    .description('opt the subscriber out and erase their name (the consent ledger is kept)')
    .action(async (phoneText: string, opts: JsonFlag, command: Command) => {
      const phone = phoneArg(phoneText);
      await withOperations(command, opts, async (ops) => {
        const view = await ops.removeSubscriber(phone);
        return { json: view, text: `removed ${subscriberLine(view)}` };
      });
    });

  jsonOption(subscribers.command('set-timezone <phone> <zone>'))
    .description("change a subscriber's time zone (planned days that no longer fit the window are cancelled)")
    .action(async (phoneText: string, zoneText: string, opts: JsonFlag, command: Command) => {
      const phone = phoneArg(phoneText);
      const timeZone = zoneArg(zoneText);
      await withOperations(command, opts, async (ops) => {
        const view = await ops.setTimeZone(phone, timeZone);
        return { json: view, text: `updated ${subscriberLine(view)}` };
      });
    });

  // Summarised from the subcommands themselves, so a new one cannot be left out of `--help`.
  subscribers.description(`manage subscribers: ${subscribers.commands.map((c) => c.name()).join(', ')}`);

  jsonOption(program.command('plan'))
    .description("run the planner now: give each active subscriber's next window a delivery")
    .option('--date <YYYY-MM-DD>', 'plan as a run at 00:00 UTC on this (future) date would')
    .action(async (opts: JsonFlag & { date?: string }, command: Command) => {
      const date = opts.date === undefined ? undefined : dateArg(opts.date);
      const now = new Date();
      const today = now.toISOString().slice(0, 10);
      if (date && date < today)
        throw new BadInput(`cannot plan ${date}: it is in the past (today is ${today} UTC)`);
      const at = date && date > today ? new Date(`${date}T00:00:00Z`) : now;
      await withRuntime(command, opts, async (rt) => {
        const summary = await planDay(rt.planDeps, at);
        return { json: { at: at.toISOString(), ...summary }, text: describePlan(summary) };
      });
    });

  jsonOption(program.command('deliveries'))
    .description('list the deliveries of one local date')
    .option('--date <YYYY-MM-DD>', 'local date (default: today in DEFAULT_TIMEZONE)')
    .option('--bodies', 'include the text of each message')
    .action(async (opts: JsonFlag & { date?: string; bodies?: boolean }, command: Command) => {
      const date = opts.date === undefined ? undefined : dateArg(opts.date);
      await withOperations(command, opts, async (ops) => {
        const listing = await ops.deliveries({ date, bodies: opts.bodies });
        const lines = listing.deliveries.flatMap((d) => [
          `${d.phone}  ${d.state}${d.reason ? ` (${d.reason})` : ''}  planned ${d.plannedAt ?? '-'}  ` +
            `${d.deliveryStatus ?? ''}` +
            (d.replacementReasons?.length ? `  replaced: ${d.replacementReasons.join(', ')}` : ''),
          ...(d.body ? [`  ${d.body}`] : []),
        ]);
        return {
          json: listing,
          text: [`deliveries on ${listing.date}: ${listing.deliveries.length}`, ...lines].join('\n'),
        };
      });
    });

  jsonOption(program.command('send-due'))
    .description('send every planned delivery whose time has come (what the scheduler would do)')
    .action(async (opts: JsonFlag, command: Command) => {
      await withRuntime(command, opts, async (rt) => {
        const now = rt.clock.now();
        const due = await dueDeliveries(rt.db, now, now);
        const outcomes = [];
        for (const d of due) outcomes.push(await sendDailyMessage(rt.sendDeps, d.id));
        const sent = outcomes.filter((o) => o.outcome === 'sent').length;
        return {
          json: { due: due.length, sent, outcomes },
          text: `${due.length} due, ${sent} sent${outcomes
            .filter((o) => o.outcome !== 'sent')
            .map((o) => `\n  ${o.deliveryId}: ${o.outcome}${'reason' in o ? ` (${o.reason})` : ''}`)
            .join('')}`,
        };
      });
    });

  jsonOption(program.command('send-now <phone>'))
    .description(
      "send this subscriber's message for today now (demos, test sends); refused if today's was already sent",
    )
    .option(
      '--wait <seconds>',
      'with --api: how long to wait for the sender to finish',
      wholeNumber(1, 900, 'seconds'),
      60,
    )
    .action(async (phoneText: string, opts: JsonFlag & { wait: number }, command: Command) => {
      const phone = phoneArg(phoneText);
      await withOperations(command, opts, async (ops) => {
        const view = await ops.sendNow(phone, { waitMs: opts.wait * 1000 });
        if (view.delivery.state !== 'sent') throw new SendNowRefused(describeSendNowView(view));
        return { json: view, text: describeSendNowView(view) };
      });
    });

  jsonOption(program.command('usage'))
    .description('the daily report for one UTC day: sends, delivery rate, skips, opt-outs, tokens, cost')
    .option('--date <YYYY-MM-DD>', 'UTC day (default: today)')
    .action(async (opts: JsonFlag & { date?: string }, command: Command) => {
      const day = opts.date === undefined ? undefined : dateArg(opts.date);
      await withOperations(command, opts, async (ops) => {
        const report = await ops.usage(day);
        return { json: report, text: summarizeReport(report) };
      });
    });

  program
    .command('capacity')
    .description(
      "what a day needs under a stage's settings (Twilio, OpenAI, Scheduler, Lambda, database) and its monthly cost",
    )
    .option(
      '--subscribers <n>',
      'subscribers to plan for',
      wholeNumber(1, 100_000_000, 'a whole number of subscribers'),
      1000,
    )
    .option('--stage <stage>', 'settings from config/<stage>.json (default: the stage in cdk.json)')
    .option(
      '--zones <zone=share,…>',
      'time-zone mix, e.g. America/New_York=60,America/Los_Angeles=40 (default: all in one zone)',
      zonesArg,
    )
    .option(
      '--set <key=value>',
      'override a setting, as `cdk deploy -c key=value` would (repeatable)',
      settingArg,
    )
    .option('--json', 'print machine-readable JSON')
    .action(
      async (
        opts: JsonFlag & {
          subscribers: number;
          stage?: string;
          zones?: string;
          set?: Record<string, string>;
        },
        command: Command,
      ) => {
        // Needs no database locally: it reads the stage's settings only.
        await withOperations(command, opts, async (ops) => {
          const view = await ops.capacity({
            subscribers: opts.subscribers,
            zones: opts.zones,
            stage: opts.stage,
            set: opts.set,
          });
          const { stage, settings: _settings, ...report } = view;
          return { json: view, text: describeCapacity(report, stage) };
        });
      },
    );

  jsonOption(program.command('cleanup'))
    .description(
      'apply the retention rules now (RETENTION_DAYS, CONSENT_RETENTION_DAYS, PENDING_EXPIRY_DAYS)',
    )
    .action(async (opts: JsonFlag, command: Command) => {
      await withRuntime(command, opts, async (rt) => {
        const result = await runCleanup({ db: rt.db, clock: rt.clock, metrics: rt.metrics }, rt.config);
        return {
          json: result,
          text:
            `cleared ${result.deliveryBodiesCleared} message bodies, deleted ${result.inboundMessagesDeleted} ` +
            `inbound texts, ${result.statusEventsDeleted} status events, ${result.consentEventsDeleted} consent ` +
            `events, ${result.outboxMessagesDeleted} outbox texts, ${result.pendingSubscribersDeleted} unanswered ` +
            `sign-ups (${result.complete ? 'complete' : 'stopped early'})`,
        };
      });
    });

  jsonOption(program.command('migrate'))
    .description('apply pending database migrations')
    .action(async (opts: JsonFlag, command: Command) => {
      if (targetOf(command, io.env).kind === 'remote')
        throw new BadInput(`\`migrate\` does not run against --api: ${LOCAL_ONLY.migrate}`);
      const config = loadConfig(io.env);
      const database = await openLocalDatabase(config.DATABASE_URL, { dataDir: dataDirectory(io.env) });
      // The migration's connection and the one that watches its lock waits (src/db/migration-locks.ts).
      const db = createDb({ connectionString: database.url, ssl: config.DATABASE_SSL, max: 2 });
      try {
        const applied = await migrateToLatest(db);
        print(opts, {
          json: { applied },
          text: applied.length ? `applied: ${applied.join(', ')}` : 'already up to date',
        });
      } finally {
        await db.destroy();
        await database.release();
      }
    });

  return program;
}

/** Codes the operator answers by changing the command line (exit 2); every other one exits 1. */
const BAD_INPUT_CODES: ReadonlySet<ErrorCode> = new Set(['usage', 'bad_input', 'not_found']);

/** Exit code, error code and one line for an error; never a stack trace. */
function explain(error: unknown): { exitCode: number; code: ErrorCode; message: string } {
  const bad = (code: ErrorCode) => ({ exitCode: EXIT_BAD_INPUT, code, message: messageOf(error) });
  const refused = (code: ErrorCode) => ({ exitCode: EXIT_FAILED, code, message: messageOf(error) });
  if (error instanceof BadInput || error instanceof InvalidSubscriberInput) return bad('bad_input');
  if (error instanceof SubscriberNotFound) return bad('not_found');
  if (error instanceof SubscriberConflict) return refused('conflict');
  if (error instanceof SendNowRefused) return refused('refused');
  // Its message says what was saved and sent: not the database's error it may carry as its cause.
  if (error instanceof SignUpIncomplete) return refused('unavailable');
  if (error instanceof DatabaseNotMigrated) return refused('not_migrated');
  // Its lock_timeout is not the database being down: the message names the session in the way.
  if (error instanceof MigrationBlocked) return refused('failed');
  // The environment or ./.env, not the command line: exit 1 as npm start, but one line, every variable.
  if (error instanceof ConfigError)
    return {
      exitCode: EXIT_FAILED,
      code: 'failed',
      message: `invalid configuration: ${error.problems.join('; ')}`,
    };
  if (error instanceof OperationError)
    return BAD_INPUT_CODES.has(error.code) ? bad(error.code) : refused(error.code);
  const message = messageOf(error).split('\n').join('; ');
  if (isDbUnavailable(error)) {
    const hint = 'every command is safe to run again once it answers';
    return {
      exitCode: EXIT_FAILED,
      code: 'unavailable',
      message: `the database is unavailable (${message}); ${hint}`,
    };
  }
  return { exitCode: EXIT_FAILED, code: 'failed', message };
}

/** Runs one command line; returns its exit code. Output goes through `io`, never a stack trace. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  // Logs are JSON on stdout: they would corrupt --json output. The result and errors speak for themselves.
  logger.setLogLevel('SILENT');
  const json = argv.includes('--json');
  const refuse = (code: ErrorCode, message: string) => {
    if (json) io.out(JSON.stringify({ error: { code, message } }, null, 2));
  };
  try {
    await buildProgram(io).parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; help asked for by a missing subcommand is already on stderr.
      if (error.exitCode === 0) return 0;
      if (error.code === 'commander.help') {
        refuse('usage', 'a subcommand is needed (see the help on stderr)');
        return EXIT_BAD_INPUT;
      }
      // Commander's "(Did you mean …?)" comes on a line of its own: fold it into the one line.
      const message = error.message.replace(/^error: /, '').replaceAll(/\s*\n\s*/g, ' ');
      io.err(`positivity: ${message}`);
      refuse('usage', message);
      return EXIT_BAD_INPUT;
    }
    const { exitCode, code, message } = explain(error);
    io.err(`positivity: ${message}`);
    refuse(code, message);
    return exitCode;
  }
}
