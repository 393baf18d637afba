// CPU per webhook request, for guiding work on a shared machine where wall-clock ratios swing with the
// load: the same fixed number of signed requests against the app, the bare server (one INSERT) and the
// bare server making the app's SQL call, counting the CPU ticks (/proc/<pid>/stat utime + stime) of the
// server process and of its Postgres backends. The app runs twice: as a deployed instance is once it has
// answered an operator API request (`app`: one /api request before its warm-up), and as one that never has
// (`app-fresh`); WEBHOOKS_CPU_ROUNDS=n repeats every server n times, alternating, against the machine's drift.
//   node --import tsx bench/webhooks-cpu.ts [requests per run, default 6000]
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { openBenchServer, withScratchDatabase } from './lib/database.js';
import {
  callApi,
  type ServerKind,
  type SignedRequest,
  seedWebhookData,
  signedInboundTexts,
  signedStatusCallbacks,
  startChild,
  stopChild,
} from './lib/webhooks.js';

const TICKS_PER_MS = 100 / 1000; // CLK_TCK is 100 on Linux

function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/**
 * Sends every request once, 10 at a time. `ms` runs from the first request to the last answer: autocannon's
 * own promise settles only on its next one-second tick, so timing around it rounds every run up to whole
 * seconds (6,000 requests read as 2,990, 1,995 or 1,497 req/s, whatever the server did).
 */
async function fire(
  url: string,
  requests: SignedRequest[],
): Promise<{ non2xx: number; errors: number; ms: number }> {
  let i = 0;
  let first: number | undefined;
  let last = 0;
  const result = await autocannon({
    url,
    connections: 10,
    amount: requests.length,
    requests: [
      {
        setupRequest: (req) => {
          first ??= performance.now();
          const t = requests[i++ % requests.length] as SignedRequest;
          return {
            ...req,
            method: 'POST',
            path: t.path,
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'x-twilio-signature': t.signature,
            },
            body: t.body,
          };
        },
        onResponse: () => {
          last = performance.now();
        },
      },
    ],
  });
  return { non2xx: result.non2xx, errors: result.errors, ms: last - (first ?? last) };
}

interface Server {
  label: string;
  kind: ServerKind;
  apiFirst?: boolean;
}
const APPS: readonly Server[] = [
  { label: 'app', kind: 'app', apiFirst: true },
  { label: 'app-fresh', kind: 'app' },
];
const BARE: readonly Server[] = [
  { label: 'bare', kind: 'bare' },
  { label: 'bare-call', kind: 'bare-call' },
];

const perRun = Number(process.argv[2] ?? 6000);
const rounds = Number(process.env.WEBHOOKS_CPU_ROUNDS ?? 1);
const server = await openBenchServer(process.env.DATABASE_URL);
try {
  await withScratchDatabase(server.adminUrl, 'webhookscpu', async ({ db, url }) => {
    // Each round runs the servers in turn, the two apps' order swapped every other round.
    const runs = Array.from({ length: rounds }, (_, round) => [
      ...(round % 2 === 0 ? APPS : [...APPS].reverse()),
      ...BARE,
    ]).flat();
    const texts = (perRun + 300) * runs.length;
    await seedWebhookData(db, texts);
    const scenarios = { inbound: signedInboundTexts(texts), status: signedStatusCallbacks(texts) };
    const only = process.env.WEBHOOKS_CPU_ONLY; // e.g. 'status' or 'status:app'
    for (const [name, all] of Object.entries(scenarios)) {
      for (const [k, { label, kind, apiFirst }] of runs.entries()) {
        if (only && !`${name}:${label}`.startsWith(only)) continue;
        // Each server gets its own slice, so neither the app nor the same-call server meets a replay.
        const offset = k * (perRun + 300);
        const warm = all.slice(offset, offset + 300);
        const measured = all.slice(offset + 300, offset + 300 + perRun);
        const child = await startChild(kind, url);
        try {
          if (apiFirst) await callApi(child.url);
          await fire(child.url, warm);
          const { rows } = await sql<{ pid: number }>`
            SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`.execute(
            db,
          );
          const pids = rows.map((r) => r.pid);
          const pid = child.child.pid as number;
          const before = { node: ticks(pid), pg: pids.reduce((s, p) => s + ticks(p), 0) };
          const r = await fire(child.url, measured);
          const after = { node: ticks(pid), pg: pids.reduce((s, p) => s + ticks(p), 0) };
          const nodeMs = (after.node - before.node) / TICKS_PER_MS / perRun;
          const pgMs = (after.pg - before.pg) / TICKS_PER_MS / perRun;
          console.log(
            `${name.padEnd(8)} ${label.padEnd(9)} node ${nodeMs.toFixed(3)} ms + pg ${pgMs.toFixed(3)} ms = ${(nodeMs + pgMs).toFixed(3)} ms CPU/request; ${(perRun / (r.ms / 1000)).toFixed(0)} req/s, ${pids.length} backends, non-2xx ${r.non2xx}, errors ${r.errors}`,
          );
        } finally {
          await stopChild(child.child);
        }
      }
    }
    const stats = await sql<Record<string, unknown>>`
      SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
      WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname`.execute(db);
    console.table(stats.rows);
  });
} finally {
  await server.stop();
}
console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
