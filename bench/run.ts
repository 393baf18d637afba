// `npm run bench [-- --quick] [-- --only planner,webhooks]`: every figure next to its simplest baseline
// measured in the same run, with its target and an honest met / NOT MET. Prints the table and writes
// bench/results.json. Postgres: DATABASE_URL when set (it creates and drops its own databases there),
// else a fresh embedded server in a temporary directory.
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../lib/lambda-bundling.js';
import { loadConfig } from '../src/config.js';
import { pricesFromConfig } from '../src/domain/cost.js';
import { applyLogConfig } from '../src/logger.js';
import { benchBundles } from './lib/bundles.js';
import { costRows } from './lib/cost.js';
import { openBenchServer } from './lib/database.js';
import { measureMessages, messageRows } from './lib/messages.js';
import { benchPace } from './lib/pace.js';
import { benchPlanner } from './lib/planner.js';
import { type BenchRow, renderTable, writeResults } from './lib/report.js';
import { benchScheduling } from './lib/scheduling.js';
import { benchUniformity } from './lib/uniformity.js';
import { benchWebhooks } from './lib/webhooks.js';

const SECTIONS = ['messages', 'bundles', 'scheduling', 'planner', 'pace', 'webhooks'] as const;
type Section = (typeof SECTIONS)[number];

const SIZES = {
  full: {
    plannerSubscribers: 100_000,
    schedules: 3_000,
    quotaPerSecond: 200,
    webhookSeconds: 10,
    webhookTexts: 100_000,
    importRuns: 5,
    messages: 1_000,
    paceSubscribers: 10_000,
  },
  quick: {
    plannerSubscribers: 5_000,
    schedules: 600,
    quotaPerSecond: 200,
    webhookSeconds: 2,
    webhookTexts: 20_000,
    importRuns: 2,
    messages: 200,
    paceSubscribers: 1_000,
  },
};

function usage(problem: string): never {
  console.error(
    `npm run bench: ${problem}\nusage: npm run bench [-- --quick] [-- --only ${SECTIONS.join(',')}]`,
  );
  process.exit(2);
}

let values: { quick?: boolean; only?: string };
try {
  ({ values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' } } }));
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
const only = values.only?.split(',').map((s) => s.trim()) ?? [...SECTIONS];
const unknown = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
if (unknown.length > 0) usage(`unknown section ${unknown.join(', ')}`);
const wanted = (s: Section) => only.includes(s);
const mode = values.quick ? 'quick' : 'full';
const sizes = SIZES[mode];

// The app's own settings (prices, pace, budgets) as configured, with the logs silenced.
const config = loadConfig({ ...process.env, LOG_LEVEL: 'SILENT' });
applyLogConfig(config);

const rows: BenchRow[] = [];
const failures: string[] = [];
const seconds: Record<string, number> = {};
async function section(name: string, work: () => Promise<BenchRow[]>): Promise<void> {
  process.stderr.write(`bench: ${name}…`);
  const t = performance.now();
  try {
    rows.push(...(await work()));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    failures.push(`${name}: ${message}`);
    rows.push({
      section: name,
      metric: 'did not run',
      value: 0,
      unit: '',
      target: { text: 'runs', met: false },
      note: message,
    });
  }
  seconds[name] = (performance.now() - t) / 1000;
  process.stderr.write(` ${seconds[name].toFixed(1)} s\n`);
}

const started = performance.now();
const load = loadavg()[0] ?? 0;

if (wanted('messages')) {
  await section('messages', async () => {
    const m = await measureMessages(config, sizes.messages);
    return [...messageRows(m, pricesFromConfig(config)), ...(await costRows(config, m.openai))];
  });
}
if (wanted('bundles')) await section('bundles', () => benchBundles(sizes.importRuns));
if (wanted('scheduling')) {
  await section('scheduling', () =>
    benchScheduling({ schedules: sizes.schedules, quotaPerSecond: sizes.quotaPerSecond }),
  );
}

let databaseLabel = 'not used';
if (wanted('planner') || wanted('pace') || wanted('webhooks')) {
  process.stderr.write('bench: starting Postgres…');
  const server = await openBenchServer(process.env.DATABASE_URL);
  databaseLabel = server.label;
  process.stderr.write(` ${server.label}\n`);
  try {
    if (wanted('planner'))
      await section('planner', () => benchPlanner(server.adminUrl, sizes.plannerSubscribers));
    if (wanted('pace'))
      await section('pace', async () => [
        ...(await benchPace(server.adminUrl, config, sizes.paceSubscribers)),
        ...(await benchUniformity(server.adminUrl, config, sizes.paceSubscribers)),
      ]);
    if (wanted('webhooks')) {
      await section('webhooks', () =>
        benchWebhooks(server.adminUrl, { seconds: sizes.webhookSeconds, texts: sizes.webhookTexts }),
      );
    }
  } finally {
    await server.stop();
  }
}

const totalSeconds = (performance.now() - started) / 1000;
const meta = {
  command: [
    'npm run bench',
    ...(values.quick || values.only ? ['--'] : []),
    ...(values.quick ? ['--quick'] : []),
    ...(values.only ? [`--only ${values.only}`] : []),
  ].join(' '),
  mode,
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  loadAverageAtStart: Number(load.toFixed(2)),
  database: databaseLabel,
  sizes,
  sectionSeconds: seconds,
  totalSeconds: Number(totalSeconds.toFixed(1)),
};
const notes = rows.filter((r) => r.note).map((r) => `- ${r.section} / ${r.metric}: ${r.note}`);
console.log(
  [
    `${meta.command}: ${mode} run, node ${meta.node}, ${meta.cpus} CPUs, load average ${meta.loadAverageAtStart} at start, ${databaseLabel}, ${totalSeconds.toFixed(0)} s`,
    '',
    renderTable(rows),
    '',
    ...notes,
  ].join('\n'),
);
const met = rows.filter((r) => r.target?.met).length;
const targets = rows.filter((r) => r.target).length;
console.log(`\n${met} of ${targets} targets met.`);
await writeResults(path.join(PROJECT_ROOT, 'bench', 'results.json'), rows, meta);
if (failures.length > 0) {
  console.error(`\nsections that failed to run:\n${failures.map((f) => `  ${f}`).join('\n')}`);
  process.exit(1);
}
