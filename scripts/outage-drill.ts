// Outage drill for a running local server (`npm start` with DATABASE_URL on a database of your own):
// steady signed inbound texts over loopback while every backend of that database is terminated again and
// again, then recovery. Prints what each phase was answered and whether every text ended up applied.
//
//   DRILL_URL=http://127.0.0.1:3917 DRILL_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mydb \
//   TWILIO_AUTH_TOKEN=… PUBLIC_BASE_URL=http://127.0.0.1:3917 npx tsx scripts/outage-drill.ts
//
// It terminates backends of DRILL_DATABASE_URL's database only, never its own, and sends only to loopback.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';

const url = process.env.DRILL_URL ?? 'http://127.0.0.1:3000';
const databaseUrl = process.env.DRILL_DATABASE_URL;
const authToken = process.env.TWILIO_AUTH_TOKEN;
const publicBaseUrl = process.env.PUBLIC_BASE_URL ?? url;
const perSecond = Number(process.env.DRILL_RATE ?? 20);
const phases = { before: 10, outage: 20, after: 15 };
if (!databaseUrl || !authToken) throw new Error('set DRILL_DATABASE_URL and TWILIO_AUTH_TOKEN');
if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) throw new Error('loopback only');

type Phase = keyof typeof phases;
const answers: Record<Phase, Map<string, number>> = {
  before: new Map(),
  outage: new Map(),
  after: new Map(),
};
const sent: { sid: string; stop: boolean; phone: string }[] = [];
let phase: Phase = 'before';
let n = 0;

async function sendOne(): Promise<void> {
  const i = n++;
  const stop = i % 2 === 0;
  const sid = `SM${randomBytes(16).toString('hex')}`;
  const phone = `+1332${String(i).padStart(7, '0')}`;
  const params = { MessageSid: sid, From: phone, To: '+15005550006', Body: stop ? 'STOP' : 'hello there' };
  const at = phase;
  sent.push({ sid, stop, phone });
  let key: string;
  try {
    const res = await fetch(`${url}/twilio/inbound`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': getExpectedTwilioSignature(
          authToken as string,
          `${publicBaseUrl}/twilio/inbound`,
          params,
        ),
      },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(20_000),
    });
    await res.arrayBuffer();
    key = String(res.status);
  } catch (error) {
    key = `error ${(error as Error).name}`;
  }
  answers[at].set(key, (answers[at].get(key) ?? 0) + 1);
}

const admin = new pg.Client({ connectionString: databaseUrl, application_name: 'outage-drill' });
await admin.connect();
const inFlight = new Set<Promise<void>>();
const load = setInterval(() => {
  const p = sendOne().finally(() => inFlight.delete(p));
  inFlight.add(p);
}, 1000 / perSecond);

let terminated = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
console.log(
  `drill: ${perSecond} signed texts/s to ${url}; ${phases.before} s normal, ${phases.outage} s outage, ${phases.after} s after`,
);
await sleep(phases.before * 1000);
phase = 'outage';
const outageEnds = Date.now() + phases.outage * 1000;
while (Date.now() < outageEnds) {
  const { rowCount } = await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );
  terminated += rowCount ?? 0;
  await sleep(50);
}
phase = 'after';
await sleep(phases.after * 1000);
clearInterval(load);
await Promise.all(inFlight);

// Let the spool drain (every 2 s), then check every text was applied exactly once.
let missing = sent.length;
for (let wait = 0; wait < 30 && missing > 0; wait++) {
  const { rows } = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM inbound_messages WHERE message_sid = ANY($1)',
    [sent.map((s) => s.sid)],
  );
  missing = sent.length - (rows[0]?.n ?? 0);
  if (missing > 0) await sleep(1000);
}
const stops = sent.filter((s) => s.stop).map((s) => s.phone);
const { rows: optedOut } = await admin.query<{ n: number }>(
  "SELECT count(*)::int AS n FROM subscribers WHERE phone = ANY($1) AND status = 'opted_out'",
  [stops],
);
const { rows: consent } = await admin.query<{ n: number }>(
  "SELECT count(*)::int AS n FROM consent_events WHERE phone = ANY($1) AND kind = 'opt_out'",
  [stops],
);
await admin.end();

const show = (m: Map<string, number>) =>
  [...m]
    .sort()
    .map(([k, v]) => `${k}×${v}`)
    .join(' ') || 'none';
console.log(`before: ${show(answers.before)}`);
console.log(`outage: ${show(answers.outage)} (${terminated} backends terminated)`);
console.log(`after:  ${show(answers.after)}`);
console.log(
  `texts sent ${sent.length}, stored ${sent.length - missing}, missing ${missing}; ` +
    `STOPs ${stops.length}, opted out ${optedOut[0]?.n}, opt-out consent events ${consent[0]?.n}`,
);
process.exit(missing === 0 ? 0 : 1);
