// The operator CLI (`npx positivity …`): the same services as the server, against DATABASE_URL, the
// running local server's database, or the embedded one in ./.data. Every command takes --json; bad input
// exits 2 and refusals or failures exit 1, each with one line on stderr (and, with --json, an error object
// on stdout).
import './load-env.js';
import { Command, CommanderError } from 'commander';
import * as z from 'zod';
import { loadConfig } from '../config.js';
import { createDb, isDbUnavailable } from '../db/connection.js';
import { migrateToLatest } from '../db/migrator.js';
import { deliveriesOnLocalDate, recentDeliveries } from '../db/repositories/deliveries/listing.js';
import { dueDeliveries } from '../db/repositories/deliveries/planning.js';
import { findSubscriberByPhone, listSubscribers } from '../db/repositories/subscribers.js';
import type { SubscriberStatus } from '../db/schema.js';
import type { E164 } from '../domain/phone.js';
import { localDateAt } from '../domain/send-window.js';
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
import { buildDailyReport, summarizeReport } from '../services/daily-report.js';
import { planDay } from '../services/plan-day.js';
import { sendDailyMessage } from '../services/send-daily-message.js';
import { describeSendNow, SendNowRefused, sendNow } from '../services/send-now.js';
import {
  createSubscriber,
  patchSubscriber,
  removeSubscriber,
  SubscriberConflict,
  SubscriberNotFound,
  type SubscriberView,
  toView,
} from '../services/subscribers.js';
import { addCapacityCommand } from './capacity-command.js';
import { describePlan, messageOf } from './describe.js';
import { openLocalDatabase, runningServer } from './local-database.js';
import { buildLocalRuntime, DatabaseNotMigrated, type LocalRuntime } from './runtime.js';

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

function dateArg(value: string): string {
  const d = new Date(`${value}T00:00:00Z`);
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(value) ||
    Number.isNaN(d.getTime()) ||
    d.toISOString().slice(0, 10) !== value
  )
    throw new BadInput(`not a date: ${JSON.stringify(value)} (use YYYY-MM-DD)`);
  return value;
}

const STATUSES: SubscriberStatus[] = ['pending', 'active', 'opted_out'];
function statusArg(value: string): SubscriberStatus {
  if (!STATUSES.includes(value as SubscriberStatus))
    throw new BadInput(`unknown status ${JSON.stringify(value)} (one of ${STATUSES.join(', ')})`);
  return value as SubscriberStatus;
}

interface Output<T> {
  json: T;
  text: string;
}

interface JsonFlag {
  json?: boolean;
}

/** Runs one command against a fresh runtime: prints its result, closes everything, sets the exit code. */
async function withRuntime<T>(
  flags: JsonFlag,
  work: (rt: LocalRuntime) => Promise<Output<T>>,
): Promise<void> {
  const rt = await buildLocalRuntime({ migrate: 'local', preferRunningServer: true, poolMax: 3 });
  try {
    const out = await work(rt);
    // With a server running, the outbox's status callbacks go to it: let them land before exiting.
    if (rt.outbox && (await runningServer(rt.dataDir))) await rt.outbox.drain();
    print(flags, out);
  } finally {
    await rt.close();
  }
}

function print<T>(flags: JsonFlag, out: Output<T>) {
  console.log(flags.json ? JSON.stringify(out.json, null, 2) : out.text);
}

function subscriberLine(s: SubscriberView): string {
  const name = s.name ? ` ${s.name}` : '';
  return `${s.phone}  ${s.status}${s.paused ? ' (paused)' : ''}  ${s.timeZone}${name}`;
}

function jsonOption(command: Command): Command {
  return command.option('--json', 'print machine-readable JSON');
}

export function buildProgram(): Command {
  const program = new Command('positivity')
    .description(
      'Operate Daily Positivity SMS: subscribers, planning, sending, usage, retention, migrations.',
    )
    .exitOverride();

  const subscribers = program.command('subscribers');

  jsonOption(subscribers.command('add <phone>'))
    .description('add a pending subscriber and text them the opt-in request (they confirm with YES)')
    .option('--tz <zone>', 'IANA time zone (default DEFAULT_TIMEZONE)')
    .option('--name <name>', 'first name used in greetings')
    .action(async (phoneText: string, opts: JsonFlag & { tz?: string; name?: string }) => {
      const phone = phoneArg(phoneText);
      const timeZone = opts.tz === undefined ? undefined : zoneArg(opts.tz);
      const name = nameArg(opts.name);
      await withRuntime(opts, async (rt) => {
        const view = await createSubscriber(rt.subscriberDeps, { phone, timeZone, name });
        return { json: view, text: `added ${subscriberLine(view)}; opt-in request sent` };
      });
    });

  jsonOption(subscribers.command('list'))
    .description('list subscribers, oldest first')
    .option('--status <status>', 'only pending, active or opted_out')
    .action(async (opts: JsonFlag & { status?: string }) => {
      const status = opts.status === undefined ? undefined : statusArg(opts.status);
      await withRuntime(opts, async (rt) => {
        const views = (await listSubscribers(rt.db, status)).map(toView);
        return {
          json: views,
          text: views.length ? views.map(subscriberLine).join('\n') : '(no subscribers)',
        };
      });
    });

  jsonOption(subscribers.command('show <phone>'))
    .description('one subscriber and their latest deliveries')
    .action(async (phoneText: string, opts: JsonFlag) => {
      const phone = phoneArg(phoneText);
      await withRuntime(opts, async (rt) => {
        const row = await findSubscriberByPhone(rt.db, phone);
        if (!row) throw new SubscriberNotFound();
        const view = toView(row);
        const deliveries = await recentDeliveries(rt.db, row.id, 10);
        const lines = deliveries.map(
          (d) => `  ${d.localDate}  ${d.state}${d.reason ? ` (${d.reason})` : ''}  ${d.deliveryStatus ?? ''}`,
        );
        return {
          json: { ...view, deliveries },
          text: [subscriberLine(view), ...(lines.length ? lines : ['  (no deliveries yet)'])].join('\n'),
        };
      });
    });

  jsonOption(subscribers.command('remove <phone>'))
    .description('opt the subscriber out and erase their name (the consent ledger is kept)')
    .action(async (phoneText: string, opts: JsonFlag) => {
      const phone = phoneArg(phoneText);
      await withRuntime(opts, async (rt) => {
        const view = await removeSubscriber(rt.subscriberDeps, phone);
        return { json: view, text: `removed ${subscriberLine(view)}` };
      });
    });

  jsonOption(subscribers.command('set-timezone <phone> <zone>'))
    .description("change a subscriber's time zone (from their next planned day)")
    .action(async (phoneText: string, zoneText: string, opts: JsonFlag) => {
      const phone = phoneArg(phoneText);
      const timeZone = zoneArg(zoneText);
      await withRuntime(opts, async (rt) => {
        const view = await patchSubscriber(rt.subscriberDeps, phone, { timeZone });
        return { json: view, text: `updated ${subscriberLine(view)}` };
      });
    });

  // Summarised from the subcommands themselves, so a new one cannot be left out of `--help`.
  subscribers.description(`manage subscribers: ${subscribers.commands.map((c) => c.name()).join(', ')}`);

  jsonOption(program.command('plan'))
    .description("run the planner now: give each active subscriber's next window a delivery")
    .option('--date <YYYY-MM-DD>', 'plan as a run at 00:00 UTC on this (future) date would')
    .action(async (opts: JsonFlag & { date?: string }) => {
      const date = opts.date === undefined ? undefined : dateArg(opts.date);
      const now = new Date();
      const today = now.toISOString().slice(0, 10);
      if (date && date < today)
        throw new BadInput(`cannot plan ${date}: it is in the past (today is ${today} UTC)`);
      const at = date && date > today ? new Date(`${date}T00:00:00Z`) : now;
      await withRuntime(opts, async (rt) => {
        const summary = await planDay(rt.planDeps, at);
        return { json: { at: at.toISOString(), ...summary }, text: describePlan(summary) };
      });
    });

  jsonOption(program.command('deliveries'))
    .description('list the deliveries of one local date')
    .option('--date <YYYY-MM-DD>', 'local date (default: today in DEFAULT_TIMEZONE)')
    .action(async (opts: JsonFlag & { date?: string }) => {
      const given = opts.date === undefined ? undefined : dateArg(opts.date);
      await withRuntime(opts, async (rt) => {
        const date = given ?? localDateAt(rt.config.DEFAULT_TIMEZONE, new Date());
        const rows = await deliveriesOnLocalDate(rt.db, date);
        const lines = rows.map(
          (d) =>
            `${d.phone}  ${d.state}${d.reason ? ` (${d.reason})` : ''}  planned ${d.plannedAt ?? '-'}  ` +
            `${d.deliveryStatus ?? ''}` +
            (d.replacementReasons?.length ? `  replaced: ${d.replacementReasons.join(', ')}` : ''),
        );
        return {
          json: { date, deliveries: rows },
          text: [`deliveries on ${date}: ${rows.length}`, ...lines].join('\n'),
        };
      });
    });

  jsonOption(program.command('send-due'))
    .description('send every planned delivery whose time has come (what the scheduler would do)')
    .action(async (opts: JsonFlag) => {
      await withRuntime(opts, async (rt) => {
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
    .description("send this subscriber's message for today now (demos); refused if today's was already sent")
    .action(async (phoneText: string, opts: JsonFlag) => {
      const phone = phoneArg(phoneText);
      await withRuntime(opts, async (rt) => {
        const result = await sendNow(rt.sendNowDeps, phone);
        if (result.outcome.outcome !== 'sent') throw new SendNowRefused(describeSendNow(result));
        return { json: result, text: describeSendNow(result) };
      });
    });

  jsonOption(program.command('usage'))
    .description('the daily report for one UTC day: sends, delivery rate, skips, opt-outs, tokens, cost')
    .option('--date <YYYY-MM-DD>', 'UTC day (default: today)')
    .action(async (opts: JsonFlag & { date?: string }) => {
      const day = opts.date === undefined ? new Date().toISOString().slice(0, 10) : dateArg(opts.date);
      await withRuntime(opts, async (rt) => {
        const report = await buildDailyReport({ db: rt.db }, day);
        return { json: report, text: summarizeReport(report) };
      });
    });

  jsonOption(program.command('cleanup'))
    .description('apply the retention rules now (RETENTION_DAYS, CONSENT_RETENTION_DAYS)')
    .action(async (opts: JsonFlag) => {
      await withRuntime(opts, async (rt) => {
        const result = await runCleanup({ db: rt.db, clock: rt.clock, metrics: rt.metrics }, rt.config);
        return {
          json: result,
          text:
            `cleared ${result.deliveryBodiesCleared} message bodies, deleted ${result.inboundMessagesDeleted} ` +
            `inbound texts, ${result.statusEventsDeleted} status events, ${result.consentEventsDeleted} consent ` +
            `events (${result.complete ? 'complete' : 'stopped early'})`,
        };
      });
    });

  jsonOption(program.command('migrate'))
    .description('apply pending database migrations')
    .action(async (opts: JsonFlag) => {
      const config = loadConfig();
      const database = await openLocalDatabase(config.DATABASE_URL);
      const db = createDb({ connectionString: database.url, ssl: config.DATABASE_SSL, max: 1 });
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

  addCapacityCommand(program);
  return program;
}

/** What a refusal or failure is, for scripts (`--json`): the `code` of the error object. */
export type ErrorCode =
  | 'usage'
  | 'bad_input'
  | 'not_found'
  | 'conflict'
  | 'refused'
  | 'not_migrated'
  | 'unavailable'
  | 'failed';

/** Exit code, error code and one line for an error; never a stack trace. */
export function explain(error: unknown): { exitCode: number; code: ErrorCode; message: string } {
  const bad = (code: ErrorCode) => ({ exitCode: EXIT_BAD_INPUT, code, message: messageOf(error) });
  const refused = (code: ErrorCode) => ({ exitCode: EXIT_FAILED, code, message: messageOf(error) });
  if (error instanceof BadInput || error instanceof InvalidSubscriberInput) return bad('bad_input');
  if (error instanceof SubscriberNotFound) return bad('not_found');
  if (error instanceof SubscriberConflict) return refused('conflict');
  if (error instanceof SendNowRefused) return refused('refused');
  if (error instanceof DatabaseNotMigrated) return refused('not_migrated');
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

async function main(argv: string[]): Promise<number> {
  // Logs are JSON on stdout: they would corrupt --json output. The result and errors speak for themselves.
  logger.setLogLevel('SILENT');
  const json = argv.includes('--json');
  const refuse = (code: ErrorCode, message: string) => {
    if (json) console.log(JSON.stringify({ error: { code, message } }, null, 2));
  };
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message already; help and version are not errors.
      if (error.exitCode === 0) return 0;
      refuse('usage', error.message.replace(/^error: /, ''));
      return EXIT_BAD_INPUT;
    }
    const { exitCode, code, message } = explain(error);
    console.error(`positivity: ${message}`);
    refuse(code, message);
    return exitCode;
  }
}

// Ctrl-C or a kill mid-command: exit now. Open transactions roll back; an embedded Postgres this command
// started is stopped by the exit hook in embedded-postgres.ts.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  process.on(signal, () => {
    console.error(`positivity: interrupted (${signal})`);
    process.exit(code);
  });
}

process.exit(await main(process.argv));
