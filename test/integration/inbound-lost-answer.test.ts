// An inbound text whose commit happened but whose answer never came back (the connection cut between the
// server's COMMIT and its reply; test/support/pg-fault-proxy.ts). The request that applied it, or the spool
// that applies it for that request, still owes the sender one reply: it sends it exactly once, and removes
// the schedules the opt-out cancelled. Any other delivery of the same MessageSid (Twilio's fallback URL, an
// SQS redelivery) says nothing.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDirectorySpool } from '../../src/adapters/directory-spool.js';
import { createDb, type Db } from '../../src/db/connection.js';
import { helpReply, optInConfirmation, optOutConfirmation } from '../../src/domain/replies.js';
import { webhookDeps } from '../../src/http/app.js';
import { applySpooledBatch, drainSpool } from '../../src/services/webhook-spool.js';
import { useTestDb } from '../support/db.js';
import { type PgFaultProxy, startPgFaultProxy } from '../support/pg-fault-proxy.js';
import {
  inboundParams,
  RecordingScheduler,
  RecordingSms,
  rowCounts,
  seedSubscriber,
  signedForm,
  testApp,
  testConfig,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
/** In the call's Parse (its text) and in every Bind (the prepared statement's name). */
const CALL = 'receive_inbound_sms';
const RETRY = { budgetMs: 5_000, backoff: { baseMs: 50, capMs: 100 } };
// Without Twilio's Advanced Opt-Out every keyword is ours to answer, so each reply below is owed by us.
const config = testConfig({ TWILIO_ADVANCED_OPT_OUT: 'false' });
const replies = { serviceName: config.SERVICE_NAME, helpContact: config.HELP_CONTACT };

let proxy: PgFaultProxy;
let proxied: Db;
let dir: string;
beforeEach(async () => {
  proxy = await startPgFaultProxy(t.url());
  proxied = createDb({ connectionString: proxy.url, max: 2 });
  dir = await mkdtemp(path.join(tmpdir(), 'dps-lost-answer-'));
});
afterEach(async () => {
  await proxied.destroy();
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
});

function post(app: Hono, params: Record<string, string>) {
  const { body, headers } = signedForm('/twilio/inbound', params);
  return app.request('/twilio/inbound', { method: 'POST', body, headers });
}

/** The text of the TwiML answer's one <Message>, or null for `<Response/>`. */
async function messageOf(res: Response): Promise<string | null> {
  const match = /<Message>(.*)<\/Message>/s.exec(await res.text());
  if (!match?.[1]) return null;
  const entities: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };
  return match[1].replace(/&(lt|gt|amp|apos|quot);/g, (_, name: string) => entities[name] ?? '');
}

const optedOut = async () =>
  (await t.db().selectFrom('subscribers').select('status').where('phone', '=', PHONE).executeTakeFirst())
    ?.status;

describe('a live request whose commit’s answer is lost', () => {
  it('retries, finds its own text applied, answers with the one confirmation and removes the schedules', async () => {
    // Prepare
    const { delivery } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    const scheduler = new RecordingScheduler();
    const app = testApp({ config, db: proxied, scheduler, retry: RETRY });
    const stop = inboundParams(PHONE, 'please stop texting me'); // a phrase: Twilio never answers it
    const cut = proxy.loseAnswerOf(CALL);

    // Act
    const res = await post(app, stop);

    // Assess
    await cut;
    expect(proxy.lost).toBe(1);
    expect(res.status).toBe(200);
    expect(await messageOf(res)).toBe(optOutConfirmation(replies));
    expect(scheduler.cancelled).toEqual([delivery?.id]);
    expect(await optedOut()).toBe('opted_out');
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 1, consent_events: 1 });

    // Twilio's fallback URL (or any other delivery of this MessageSid) is another request: it owes nothing.
    const again = await post(testApp({ config, db: t.db(), scheduler }), stop);
    expect(again.status).toBe(200);
    expect(await messageOf(again)).toBeNull();
    expect(scheduler.cancelled).toEqual([delivery?.id]);
  });

  it.each([
    ['START', 'opted_out', () => optInConfirmation(replies)],
    ['HELP', 'active', () => helpReply(replies)],
  ] as const)('answers %s with its reply after recovering it', async (text, status, reply) => {
    await seedSubscriber(t.db(), { phone: PHONE, status });
    const app = testApp({ config, db: proxied, retry: RETRY });
    const cut = proxy.loseAnswerOf(CALL);

    const res = await post(app, inboundParams(PHONE, text));

    await cut;
    expect(await messageOf(res)).toBe(reply());
  });
});

describe('a lost answer the request could not retry: kept, then applied from the spool', () => {
  /** Posts `params` through the proxy, losing the commit's answer and then every connection: 503, kept. */
  async function keptAfterLostCommit(params: Record<string, string>): Promise<string> {
    const app = testApp({
      config,
      db: proxied,
      spool: createDirectorySpool(dir),
      retry: { budgetMs: 300, backoff: { baseMs: 50, capMs: 100 } },
    });
    const cut = proxy.loseAnswerOf(CALL, { thenRefuse: true });
    const res = await post(app, params);
    await cut;
    expect(res.status).toBe(503);
    const [file, ...more] = await readdir(dir);
    expect(more).toEqual([]);
    return readFile(path.join(dir, file as string), 'utf8');
  }

  it('the spool sends the reply once and removes the schedules; an SQS redelivery sends nothing', async () => {
    // Prepare: the request's commit landed, its answer was lost, and its retries found no database.
    const { delivery } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    const kept = await keptAfterLostCommit(inboundParams(PHONE, 'please stop texting me'));
    expect(await optedOut()).toBe('opted_out');
    const sms = new RecordingSms();
    const scheduler = new RecordingScheduler();
    const deps = webhookDeps({ config, db: t.db(), scheduler, sms });

    // Act
    const { failed } = await applySpooledBatch(deps, [{ id: 'm1', body: kept }]);

    // Assess
    expect(failed).toEqual([]);
    expect(sms.sent.map((m) => [m.to, m.body])).toEqual([[PHONE, optOutConfirmation(replies)]]);
    expect(scheduler.cancelled).toEqual([delivery?.id]);

    // SQS delivers the same message again (the batch's answer was lost, or a DLQ redrive): no second reply.
    expect(await applySpooledBatch(deps, [{ id: 'm1', body: kept }])).toMatchObject({ failed: [] });
    expect(sms.sent).toHaveLength(1);
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 1, consent_events: 1 });
  });

  it('Twilio’s fallback URL keeping the same text again: both copies kept, the one reply sent once', async () => {
    // Prepare: the lost-commit request is answered 503, so Twilio tries the fallback URL (this same app)
    // while the database is still unreachable.
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const stop = inboundParams(PHONE, 'please stop texting me');
    await keptAfterLostCommit(stop);
    const fallback = testApp({
      config,
      db: proxied,
      spool: createDirectorySpool(dir),
      retry: { budgetMs: 0 },
    });
    expect((await post(fallback, stop)).status).toBe(503);
    expect(await readdir(dir)).toHaveLength(2);
    const sms = new RecordingSms();
    const deps = webhookDeps({ config, db: t.db(), scheduler: new RecordingScheduler(), sms });

    // Act
    const drained = await drainSpool(deps, createDirectorySpool(dir));

    // Assess
    expect(drained).toMatchObject({ applied: 2, left: 0 });
    expect(sms.sent.map((m) => m.body)).toEqual([optOutConfirmation(replies)]);
  });

  it('the spool’s own lost answer is recovered by its retry: still one reply', async () => {
    // Prepare: kept after a lost commit, as above; then the spool's claim of the reply loses its answer too.
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const kept = await keptAfterLostCommit(inboundParams(PHONE, 'please stop texting me'));
    proxy.refuse(false);
    const sms = new RecordingSms();
    const deps = webhookDeps({ config, db: proxied, scheduler: new RecordingScheduler(), sms, retry: RETRY });
    const cut = proxy.loseAnswerOf(CALL);

    // Act
    const { failed } = await applySpooledBatch(deps, [{ id: 'm1', body: kept }]);

    // Assess
    await cut;
    expect(failed).toEqual([]);
    expect(sms.sent.map((m) => m.body)).toEqual([optOutConfirmation(replies)]);
    expect(await applySpooledBatch(deps, [{ id: 'm1', body: kept }])).toMatchObject({ failed: [] });
    expect(sms.sent).toHaveLength(1);
  });

  it('a kept text first applied by the spool, whose answer is lost, is answered once by the spool’s retry', async () => {
    // Prepare: kept while the database was down (nothing committed), then applied through the proxy.
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    proxy.refuse(true);
    const down = testApp({
      config,
      db: proxied,
      spool: createDirectorySpool(dir),
      retry: { budgetMs: 200, backoff: { baseMs: 50, capMs: 100 } },
    });
    expect((await post(down, inboundParams(PHONE, 'HELP'))).status).toBe(503);
    const [file] = await readdir(dir);
    const kept = await readFile(path.join(dir, file as string), 'utf8');
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 0 });
    proxy.refuse(false);
    const sms = new RecordingSms();
    const deps = webhookDeps({ config, db: proxied, scheduler: new RecordingScheduler(), sms, retry: RETRY });
    const cut = proxy.loseAnswerOf(CALL);

    // Act
    expect(await applySpooledBatch(deps, [{ id: 'm1', body: kept }])).toMatchObject({ failed: [] });

    // Assess
    await cut;
    expect(sms.sent.map((m) => m.body)).toEqual([helpReply(replies)]);
    expect(await applySpooledBatch(deps, [{ id: 'm1', body: kept }])).toMatchObject({ failed: [] });
    expect(sms.sent).toHaveLength(1);
  });
});

describe('an opt-in superseded by a later opt-out', () => {
  it('owes no reply, also when its answer is lost and its retry finds it stored', async () => {
    // Prepare: opted out at 10:00:05; a START received at 10:00:00 comes back from the spool after it.
    await seedSubscriber(t.db(), { phone: PHONE, status: 'opted_out' });
    await t
      .db()
      .updateTable('subscribers')
      .set({ opted_out_at: new Date('2026-12-01T10:00:05Z') })
      .execute();
    const start = {
      type: 'inbound',
      messageSid: 'SM'.padEnd(34, '3'),
      from: PHONE,
      to: null,
      body: 'START',
      optOutType: null,
      receivedAt: '2026-12-01T10:00:00.000Z',
    };
    const sms = new RecordingSms();
    const deps = webhookDeps({ config, db: proxied, scheduler: new RecordingScheduler(), sms, retry: RETRY });
    const cut = proxy.loseAnswerOf(CALL);

    // Act
    expect(await applySpooledBatch(deps, [{ id: 'm1', body: JSON.stringify(start) }])).toMatchObject({
      failed: [],
    });

    // Assess
    await cut;
    expect(sms.sent).toEqual([]);
    expect(await optedOut()).toBe('opted_out');
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 1, consent_events: 0 });
  });
});

describe('code deployed before migration 2026-12-01T1800 (the old signature) next to the new', () => {
  const call = (db: Db, sid: string, tokens: string) =>
    sql<{ outcome: string }>`SELECT outcome FROM receive_inbound_sms(${sid}, ${PHONE}, NULL, 'STOP',
      'opt_out', 'UTC', now(), NULL::integer${sql.raw(tokens)})`.execute(db);

  it('still applies and dedupes a text; the row owes no one a reply, so no new request can claim it', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const sid = 'SM'.padEnd(34, '1');

    expect((await call(t.db(), sid, '')).rows).toEqual([{ outcome: 'applied' }]);
    expect((await call(t.db(), sid, '')).rows).toEqual([{ outcome: 'duplicate' }]);
    expect(await t.db().selectFrom('inbound_messages').select('reply_token').execute()).toEqual([
      { reply_token: null },
    ]);
    expect((await call(t.db(), sid, ', gen_random_uuid(), gen_random_uuid()')).rows).toEqual([
      { outcome: 'duplicate' },
    ]);
    expect(await optedOut()).toBe('opted_out');
  });

  it('finds a text the new code applied a duplicate, as before', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const sid = 'SM'.padEnd(34, '2');
    expect((await call(t.db(), sid, ', gen_random_uuid(), NULL')).rows).toEqual([{ outcome: 'applied' }]);
    expect((await call(t.db(), sid, '')).rows).toEqual([{ outcome: 'duplicate' }]);
  });
});
