// Webhooks under load: the real application (serve.ts app) answering Twilio-signed requests against the
// bare node:http + pg server (one INSERT per request), both in a child process with the same pool size, each
// loaded by autocannon over loopback for a fixed time; and, as a second baseline without a target, a bare
// server making the app's own SQL call (what the application costs over its database work). Two
// scenarios: inbound STOP/START texts, each from a different number, and status callbacks (sending, sent,
// delivered for each of our sent messages: the high-volume path, about three per message). The app answers
// one operator API request before its load, as a deployed instance has.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import twilioWebhooks from 'twilio/lib/webhooks/webhooks.js';
import { PROJECT_ROOT } from '../../lib/lambda-bundling.js';
import type { Db } from '../../src/db/connection.js';
import { withScratchDatabase } from './database.js';
import { runLoad } from './load.js';
import type { BenchRow } from './report.js';
import { BENCH_AUTH_TOKEN, BENCH_PUBLIC_BASE_URL, SERVER_POOL_MAX } from './serve.js';

const { getExpectedTwilioSignature } = twilioWebhooks;
const CONNECTIONS = 10;
const INBOUND = '/twilio/inbound';
const STATUS = '/twilio/status';

export interface SignedRequest {
  path: string;
  body: string;
  signature: string;
}

function sign(path: string, params: Record<string, string>): SignedRequest {
  return {
    path,
    body: new URLSearchParams(params).toString(),
    signature: getExpectedTwilioSignature(BENCH_AUTH_TOKEN, `${BENCH_PUBLIC_BASE_URL}${path}`, params),
  };
}

/** Inbound senders: even i an active subscriber, odd i a number never seen. */
const phoneFor = (i: number) => `+1646${String(i).padStart(7, '0')}`;
/** Recipients of the messages the status callbacks speak of: numbers of their own, so no START finds one. */
const recipientFor = (i: number) => `+1647${String(i).padStart(7, '0')}`;

/**
 * Signed inbound texts, made before any timing: even i is STOP from an active subscriber, odd i is START
 * from a number never seen (a sign-up by SMS). Every request has its own number and MessageSid.
 */
export function signedInboundTexts(count: number): SignedRequest[] {
  const out: SignedRequest[] = [];
  for (let i = 0; i < count; i++) {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const params: Record<string, string> = {
      ToCountry: 'US',
      SmsMessageSid: sid,
      NumMedia: '0',
      SmsSid: sid,
      SmsStatus: 'received',
      Body: i % 2 === 0 ? 'STOP' : 'START',
      FromCountry: 'US',
      To: '+14155550100',
      NumSegments: '1',
      MessageSid: sid,
      AccountSid: `AC${'1234'.repeat(8)}`,
      From: phoneFor(i),
      ApiVersion: '2010-04-01',
    };
    out.push(sign(INBOUND, params));
  }
  return out;
}

const messageSid = (i: number) => `SM${i.toString(16).padStart(32, '0')}`;

/** Signed status callbacks for messages 0…count/3: sending, sent, delivered for each, in that order. */
export function signedStatusCallbacks(count: number): SignedRequest[] {
  const out: SignedRequest[] = [];
  const statuses = ['sending', 'sent', 'delivered'];
  for (let i = 0; i < count; i++) {
    const sid = messageSid(Math.floor(i / statuses.length));
    const status = statuses[i % statuses.length] as string;
    out.push(
      sign(STATUS, {
        SmsSid: sid,
        SmsStatus: status,
        MessageStatus: status,
        To: recipientFor(Math.floor(i / statuses.length)),
        MessagingServiceSid: `MG${'9f8e'.repeat(8)}`,
        MessageSid: sid,
        AccountSid: `AC${'1234'.repeat(8)}`,
        From: '+14155550100',
        ApiVersion: '2010-04-01',
      }),
    );
  }
  return out;
}

/** The servers serve.ts starts: the application and the two bare baselines (bare-server.ts). */
export type ServerKind = 'app' | 'bare' | 'bare-call';

export async function startChild(
  kind: ServerKind,
  databaseUrl: string,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      // BENCH_PROFILE_DIR=dir writes a CPU profile of each server (open it in Chrome DevTools).
      ...(process.env.BENCH_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
        : []),
      // BENCH_NODE_FLAGS="--trace-deopt …" passes V8 flags (not allowed in NODE_OPTIONS) to the servers.
      ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      path.join(PROJECT_ROOT, 'bench/lib/serve.ts'),
      kind,
    ],
    {
      cwd: PROJECT_ROOT,
      env: { ...process.env, BENCH_DATABASE_URL: databaseUrl, LOG_LEVEL: 'SILENT' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code}) before listening`)));
    // The first line that is the server's {"url": …}; V8 traces (BENCH_NODE_FLAGS) may come before it.
    lines.on('line', (line) => {
      if (line.startsWith('{"url"')) resolve((JSON.parse(line) as { url: string }).url);
      else if (process.env.BENCH_NODE_FLAGS) process.stderr.write(`${line}\n`);
    });
  });
  return { url, child };
}

/**
 * One operator API request, as a deployed webhooks Lambda serves between webhooks (refused here for want of a
 * token, after the request's deadline is set: src/http/api-auth.ts). Measuring webhooks only in a server
 * that never answered one would leave out whatever an /api request leaves behind in the process.
 */
export async function callApi(url: string): Promise<void> {
  const answer = await fetch(`${url}/api/usage`);
  await answer.body?.cancel();
  if (answer.status !== 401) throw new Error(`GET /api/usage answered ${answer.status}, expected 401`);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Loads one server: a short warm-up, then the measured run, taking requests in order from `texts`. */
async function load(
  url: string,
  texts: SignedRequest[],
  cursor: { next: number; wrapped: number },
  seconds: number,
  warmUpSeconds: number,
) {
  const request = () => {
    if (cursor.next >= texts.length) {
      cursor.next = 0;
      cursor.wrapped++;
    }
    const t = texts[cursor.next++] as SignedRequest;
    return {
      method: 'POST' as const,
      path: t.path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': t.signature },
      body: t.body,
    };
  };
  await runLoad({ url, seconds: warmUpSeconds, connections: CONNECTIONS, request });
  return runLoad({ url, seconds, connections: CONNECTIONS, request });
}

interface Scenario {
  name: string;
  requests: SignedRequest[];
  /** What the app stored, for the row's note. */
  stored: () => Promise<string>;
}

/**
 * The app, then the bare server making the same SQL call (on the requests after the app's, so it meets no
 * replays), then the bare INSERT server (on the same requests as the app); four rows (throughput, p50, p99,
 * and the app against the same-call server).
 */
async function runScenario(url: string, scenario: Scenario, seconds: number) {
  const warmUp = Math.max(1, Math.round(seconds / 5));
  /** One server in its own child process, loaded from `cursor` on. */
  const measure = async (kind: ServerKind, cursor: { next: number; wrapped: number }) => {
    const server = await startChild(kind, url);
    try {
      if (kind === 'app') await callApi(server.url);
      return await load(server.url, scenario.requests, cursor, seconds, warmUp);
    } finally {
      await stopChild(server.child);
    }
  };
  const appCursor = { next: 0, wrapped: 0 };
  const app = await measure('app', appCursor);
  const stored = await scenario.stored();
  const callCursor = { next: appCursor.next, wrapped: 0 };
  const call = await measure('bare-call', callCursor);
  const bareCursor = { next: 0, wrapped: 0 };
  const bare = await measure('bare', bareCursor);
  const clean = app.non2xx === 0 && app.errors === 0 && appCursor.wrapped === 0;
  const ratio = app.requestsPerSecond / bare.requestsPerSecond;
  const base = `${CONNECTIONS} connections, ${seconds} s after ${warmUp} s warm-up, pool ${SERVER_POOL_MAX} each`;
  return [
    {
      section: 'webhooks',
      metric: scenario.name,
      value: app.requestsPerSecond,
      unit: 'req/s',
      baseline: { label: 'bare node:http + pg, one INSERT', value: bare.requestsPerSecond, unit: 'req/s' },
      ratio,
      target: { text: '≥ 0.5× and no errors', met: ratio >= 0.5 && clean },
      note:
        `${base}; app ${app.total} measured requests, non-2xx ${app.non2xx}, errors ${app.errors}` +
        `${appCursor.wrapped ? `, requests reused ${appCursor.wrapped}×` : ''}; stored ${stored} (incl. warm-up); ` +
        `bare non-2xx ${bare.non2xx}, errors ${bare.errors}`,
    },
    {
      section: 'webhooks',
      metric: `${scenario.name}: latency p50`,
      value: app.p50Ms,
      unit: 'ms',
      baseline: { label: 'bare', value: bare.p50Ms, unit: 'ms' },
      ratio: app.p50Ms / Math.max(bare.p50Ms, 0.001),
    },
    {
      section: 'webhooks',
      metric: `${scenario.name}: latency p99`,
      value: app.p99Ms,
      unit: 'ms',
      baseline: { label: 'bare', value: bare.p99Ms, unit: 'ms' },
      ratio: app.p99Ms / Math.max(bare.p99Ms, 0.001),
      target: { text: '< 20 ms', met: app.p99Ms < 20 },
    },
    {
      section: 'webhooks',
      metric: `${scenario.name}: app against its own SQL call`,
      value: app.requestsPerSecond,
      unit: 'req/s',
      baseline: {
        label: 'bare node:http + pg, the same SQL call',
        value: call.requestsPerSecond,
        unit: 'req/s',
      },
      ratio: app.requestsPerSecond / call.requestsPerSecond,
      note:
        `what the application costs over its database work; the same-call server itself: ` +
        `${(call.requestsPerSecond / bare.requestsPerSecond).toFixed(3)}× the one-INSERT server, ` +
        `p50 ${call.p50Ms} ms, p99 ${call.p99Ms} ms, non-2xx ${call.non2xx}, errors ${call.errors}` +
        `${callCursor.wrapped ? `, requests reused ${callCursor.wrapped}×` : ''}`,
    },
  ] satisfies BenchRow[];
}

/**
 * What the requests speak of: an active subscriber for every STOP sender (even numbers; START senders are
 * new) and one sent delivery per message the status callbacks speak of, to recipients of their own
 * (test/integration/bench-webhooks-data.test.ts).
 */
export async function seedWebhookData(db: Db, texts: number): Promise<void> {
  // STOP senders are active subscribers; START senders are new numbers.
  await sql`
      INSERT INTO subscribers (phone, status, time_zone, confirmed_at)
      SELECT '+1646' || lpad(g::text, 7, '0'), 'active', 'America/New_York', now()
      FROM generate_series(0, ${texts - 1}, 2) AS g`.execute(db);
  // One sent delivery per message the status callbacks speak of, each to a recipient of its own (recipientFor).
  const messages = Math.ceil(texts / 3);
  await sql`
      INSERT INTO subscribers (phone, status, time_zone, confirmed_at)
      SELECT '+1647' || lpad(g::text, 7, '0'), 'active', 'America/New_York', now()
      FROM generate_series(0, ${messages - 1}) AS g`.execute(db);
  await sql`
      INSERT INTO deliveries (subscriber_id, local_date, time_zone, window_start, window_end, planned_at,
                              state, claimed_at, sent_at, message_sid)
      SELECT s.id, DATE '2026-11-25', 'America/New_York', now() - interval '1 hour', now() + interval '4 hours',
             now(), 'sent', now(), now(), 'SM' || lpad(to_hex(g), 32, '0')
      FROM generate_series(0, ${messages - 1}) AS g
      JOIN subscribers s ON s.phone = '+1647' || lpad(g::text, 7, '0')`.execute(db);
  // What the sender records with each message: Twilio's first answer.
  await sql`
      INSERT INTO message_statuses (message_sid, status)
      SELECT message_sid, 'queued' FROM deliveries WHERE message_sid IS NOT NULL`.execute(db);
  await sql`ANALYZE subscribers`.execute(db);
  await sql`ANALYZE deliveries`.execute(db);
  await sql`ANALYZE message_statuses`.execute(db);
}

export async function benchWebhooks(
  adminUrl: string,
  options: { seconds: number; texts: number },
): Promise<BenchRow[]> {
  return withScratchDatabase(adminUrl, 'webhooks', async ({ db, url }) => {
    await seedWebhookData(db, options.texts);

    const count = async (query: ReturnType<typeof sql<{ n: number }>>) =>
      (await query.execute(db)).rows[0]?.n ?? 0;
    const inbound = await runScenario(
      url,
      {
        name: 'signed inbound STOP/START, distinct numbers',
        requests: signedInboundTexts(options.texts),
        stored: async () =>
          `${await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM inbound_messages`)} inbound, ` +
          `${await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM consent_events`)} consent events`,
      },
      options.seconds,
    );
    const status = await runScenario(
      url,
      {
        name: 'signed status callbacks (sending, sent, delivered per message)',
        requests: signedStatusCallbacks(options.texts),
        stored: async () =>
          `${await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_status_events`)} status events, ` +
          `${await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM message_statuses WHERE status = 'delivered'`)} delivered`,
      },
      options.seconds,
    );
    return [...inbound, ...status];
  });
}
