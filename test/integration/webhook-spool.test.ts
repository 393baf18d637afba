// Inbound is never lost to a database outage: with Postgres unreachable, signed webhooks are answered 503
// with Retry-After and kept in the spool; once it answers, the drain applies them (opt-outs first) exactly
// as live requests, and applying them again changes nothing.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedCredentials } from '../../src/adapters/credentials.js';
import { createDirectorySpool } from '../../src/adapters/directory-spool.js';
import { createDb, createPool, type Db, dbOnPool } from '../../src/db/connection.js';
import { helpReply, optInConfirmation, optOutConfirmation } from '../../src/domain/replies.js';
import { webhookDeps } from '../../src/http/app.js';
import { countKeptWebhook, InMemoryMetricsSink } from '../../src/metrics.js';
import { applySpooledBatch, drainSpool } from '../../src/services/webhook-spool.js';
import { useTestDb } from '../support/db.js';
import {
  inboundParams,
  newSid,
  RecordingScheduler,
  RecordingSms,
  rowCounts,
  seedSubscriber,
  signedForm,
  statusParams,
  testApp,
  testConfig,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
const OTHER = '+12125550124';
const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

let dir: string;
let down: Db;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dps-spool-'));
  down = createDb({ connectionString: 'postgres://postgres@127.0.0.1:1/nowhere', max: 1 });
});
afterEach(async () => {
  await down.destroy();
  await rm(dir, { recursive: true, force: true });
});

function appOn(db: Db, scheduler = new RecordingScheduler()) {
  return testApp({
    db,
    scheduler,
    spool: createDirectorySpool(dir),
    retry: { budgetMs: 300, backoff: { baseMs: 50, capMs: 100 } },
  });
}

function post(app: Hono, route: string, params: Record<string, string>) {
  const { body, headers } = signedForm(route, params);
  return app.request(route, { method: 'POST', body, headers });
}

describe('webhooks while the database is unreachable', () => {
  it('answers 503 + Retry-After, keeps each one, and applies them once the database is back', async () => {
    const sid = newSid();
    const { subscriber, delivery } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    await seedSubscriber(
      t.db(),
      { phone: OTHER },
      { localDate: '2026-11-24', state: 'sent', messageSid: sid },
    );
    const outage = appOn(down);
    const stop = inboundParams(PHONE, 'please stop texting me');
    const hello = inboundParams(OTHER, 'hello');

    const answers = [
      await post(outage, '/twilio/inbound', hello),
      await post(outage, '/twilio/status', statusParams(sid, 'failed', { ErrorCode: '21610', To: OTHER })),
      await post(outage, '/twilio/inbound', stop),
      // Twilio's fallback URL, or a repeat: kept again by its own request, applied as a duplicate.
      await post(outage, '/twilio/inbound', stop),
    ];
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.text()).toBe(EMPTY);
    }
    expect(await readdir(dir)).toHaveLength(4);
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 0, consent_events: 0 });

    const scheduler = new RecordingScheduler();
    const deps = webhookDeps({ config: testConfig(), db: t.db(), scheduler, sms: new RecordingSms() });
    const spool = createDirectorySpool(dir);
    const drained = await drainSpool(deps, spool);
    expect(drained).toMatchObject({ applied: 4, left: 0 });
    // What was applied is counted as the live requests would have been (the CLI report; the Lambda's EMF).
    const counted = new InMemoryMetricsSink();
    for (const outcome of drained.outcomes) countKeptWebhook(counted, outcome);
    expect(counted.totals()).toEqual({ OptOuts: 2, MessagesFailed: 1 });

    expect(
      await t.db().selectFrom('subscribers').select(['phone', 'status']).orderBy('phone').execute(),
    ).toEqual([
      { phone: PHONE, status: 'opted_out' },
      { phone: OTHER, status: 'opted_out' },
    ]);
    const consent = await t
      .db()
      .selectFrom('consent_events')
      .select(['phone', 'source'])
      .orderBy('id')
      .execute();
    // Both numbers opted out; each is applied whole, in arrival order: OTHER ("hello", then the carrier's), then PHONE.
    expect(consent).toEqual([
      { phone: OTHER, source: 'carrier' },
      { phone: PHONE, source: 'sms' },
    ]);
    expect(
      await t
        .db()
        .selectFrom('deliveries')
        .select('state')
        .where('id', '=', delivery?.id ?? '')
        .executeTakeFirst(),
    ).toEqual({ state: 'cancelled' });
    expect(scheduler.cancelled).toEqual([delivery?.id]);
    const inbound = await t
      .db()
      .selectFrom('inbound_messages')
      .select(['message_sid', 'subscriber_id'])
      .execute();
    expect(inbound).toHaveLength(2);
    expect(inbound).toContainEqual({ message_sid: stop.MessageSid, subscriber_id: subscriber.id });
    expect(await readdir(dir)).toEqual([]);

    // Applying the same webhooks again (a redelivery) changes nothing.
    const before = await rowCounts(t.db());
    const live = appOn(t.db());
    expect((await post(live, '/twilio/inbound', stop)).status).toBe(200);
    expect(
      (await post(live, '/twilio/status', statusParams(sid, 'failed', { ErrorCode: '21610', To: OTHER })))
        .status,
    ).toBe(204);
    expect(await rowCounts(t.db())).toEqual(before);
  });

  it("applies one subscriber's START then STOP in that order: they end opted out, the STOP in the ledger", async () => {
    // Prepare: an opted-out subscriber texted START and then STOP while the database was down.
    await seedSubscriber(t.db(), { phone: PHONE, status: 'opted_out' });
    await t
      .db()
      .updateTable('subscribers')
      .set({ opted_out_at: new Date('2026-11-30T10:00:00Z') })
      .execute();
    const spool = createDirectorySpool(dir);
    const kept = (body: string, receivedAt: string) =>
      spool.keep({
        type: 'inbound',
        messageSid: newSid(),
        from: PHONE,
        to: null,
        body,
        optOutType: null,
        receivedAt,
      });
    await kept('START', '2026-12-01T10:00:00.000Z');
    await kept('STOP', '2026-12-01T10:00:00.244Z');
    const deps = webhookDeps({
      config: testConfig(),
      db: t.db(),
      scheduler: new RecordingScheduler(),
      sms: new RecordingSms(),
    });

    // Act
    expect(await drainSpool(deps, spool)).toMatchObject({ applied: 2, left: 0 });

    // Assess
    expect(await t.db().selectFrom('subscribers').select(['status', 'opted_out_at']).execute()).toEqual([
      { status: 'opted_out', opted_out_at: new Date('2026-12-01T10:00:00.244Z') },
    ]);
    const consent = await t.db().selectFrom('consent_events').select('kind').orderBy('id').execute();
    expect(consent.map((c) => c.kind)).toEqual(['opt_in', 'opt_out']);
  });

  describe("one subscriber's texts in different SQS batches, the older START applied after the STOP", () => {
    // SQS orders only within a batch: a START kept before a STOP can come back in a later batch than the STOP.
    const START_AT = '2026-12-01T10:00:00.000Z';
    const STOP_AT = '2026-12-01T10:00:05.000Z';
    const batchOf = (body: string, receivedAt: string) => [
      {
        id: newSid('m'),
        body: JSON.stringify({
          type: 'inbound',
          messageSid: newSid(),
          from: PHONE,
          to: null,
          body,
          optOutType: null,
          receivedAt,
        }),
      },
    ];
    const config = testConfig({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    const replies = { serviceName: config.SERVICE_NAME, helpContact: config.HELP_CONTACT };
    const depsWith = (sms: RecordingSms) =>
      webhookDeps({ config, db: t.db(), scheduler: new RecordingScheduler(), sms });
    const subscriberRow = () =>
      t.db().selectFrom('subscribers').select(['status', 'opted_out_at']).executeTakeFirstOrThrow();
    const consentKinds = async () =>
      (await t.db().selectFrom('consent_events').select('kind').orderBy('id').execute()).map((c) => c.kind);

    it('the stale START changes nothing and is not answered: the later STOP stands', async () => {
      // Prepare
      await seedSubscriber(t.db(), { phone: PHONE });
      const sms = new RecordingSms();

      // Act
      expect(await applySpooledBatch(depsWith(sms), batchOf('STOP', STOP_AT))).toMatchObject({ failed: [] });
      expect(await applySpooledBatch(depsWith(sms), batchOf('START', START_AT))).toMatchObject({
        failed: [],
      });

      // Assess
      expect(await subscriberRow()).toEqual({ status: 'opted_out', opted_out_at: new Date(STOP_AT) });
      expect(await consentKinds()).toEqual(['opt_out']);
      expect(sms.sent.map((m) => m.body)).toEqual([optOutConfirmation(replies)]);
      expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 2 });
    });

    it('also when the STOP found them already out: the latest opt-out request is what the START is dated against', async () => {
      // Prepare: opted out the day before; the STOP in the later batch repeats it.
      await seedSubscriber(t.db(), { phone: PHONE, status: 'opted_out' });
      await t
        .db()
        .updateTable('subscribers')
        .set({ opted_out_at: new Date('2026-11-30T10:00:00Z') })
        .execute();
      const sms = new RecordingSms();

      // Act
      await applySpooledBatch(depsWith(sms), batchOf('STOP', STOP_AT));
      await applySpooledBatch(depsWith(sms), batchOf('START', START_AT));

      // Assess
      expect(await subscriberRow()).toEqual({ status: 'opted_out', opted_out_at: new Date(STOP_AT) });
      expect(await consentKinds()).toEqual([]);
      expect(sms.sent.map((m) => m.body)).toEqual([optOutConfirmation(replies)]);
    });

    it('a START newer than the STOP still subscribes them again, whichever batch comes first', async () => {
      await seedSubscriber(t.db(), { phone: PHONE });
      const sms = new RecordingSms();

      await applySpooledBatch(depsWith(sms), batchOf('STOP', START_AT));
      await applySpooledBatch(depsWith(sms), batchOf('START', STOP_AT));

      expect(await subscriberRow()).toEqual({ status: 'active', opted_out_at: null });
      expect(await consentKinds()).toEqual(['opt_out', 'opt_in']);
      expect(sms.sent.map((m) => m.body)).toEqual([optOutConfirmation(replies), optInConfirmation(replies)]);
    });
  });

  it('sends the reply a live request would have carried through the SmsSender, once, when the spool drains', async () => {
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const outage = appOn(down);
    const stop = inboundParams(PHONE, 'please stop texting me'); // a phrase: Twilio does not answer it
    const help = inboundParams(OTHER, 'HELP');
    const hello = inboundParams(OTHER, 'hello');
    for (const params of [hello, help, stop])
      expect((await post(outage, '/twilio/inbound', params)).status).toBe(503);

    const sms = new RecordingSms();
    // Without Twilio's Advanced Opt-Out our app answers the keywords too.
    const config = testConfig({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    const deps = webhookDeps({ config, db: t.db(), scheduler: new RecordingScheduler(), sms });
    expect(await drainSpool(deps, createDirectorySpool(dir))).toMatchObject({ applied: 3, left: 0 });

    const replies = { serviceName: config.SERVICE_NAME, helpContact: config.HELP_CONTACT };
    const statusCallback = `${config.PUBLIC_BASE_URL}/twilio/status`;
    // The opt-out first (drain order); "hello" asks for no reply.
    expect(sms.sent).toEqual([
      { to: PHONE, body: optOutConfirmation(replies), statusCallback },
      { to: OTHER, body: helpReply(replies), statusCallback },
    ]);

    // The same texts again (an SQS redelivery, Twilio's fallback URL): nothing changes, nothing is sent.
    for (const params of [stop, help]) {
      expect((await post(appOn(down), '/twilio/inbound', params)).status).toBe(503);
    }
    expect(await drainSpool(deps, createDirectorySpool(dir))).toMatchObject({ applied: 2, left: 0 });
    expect(sms.sent).toHaveLength(2);
  });

  it('with Advanced Opt-Out only the phrase is answered: Twilio answered the keyword already', async () => {
    const outage = appOn(down);
    for (const params of [inboundParams(OTHER, 'HELP'), inboundParams(PHONE, 'please stop texting me')])
      expect((await post(outage, '/twilio/inbound', params)).status).toBe(503);
    const sms = new RecordingSms();
    const config = testConfig();
    const deps = webhookDeps({ config, db: t.db(), scheduler: new RecordingScheduler(), sms });
    expect(await drainSpool(deps, createDirectorySpool(dir))).toMatchObject({ applied: 2, left: 0 });
    expect(sms.sent.map((m) => [m.to, m.body])).toEqual([
      [PHONE, optOutConfirmation({ serviceName: config.SERVICE_NAME, helpContact: config.HELP_CONTACT })],
    ]);
  });

  it('a reply that cannot be sent is logged, and the kept text still counts as applied', async () => {
    const outage = appOn(down);
    expect((await post(outage, '/twilio/inbound', inboundParams(PHONE, 'HELP'))).status).toBe(503);
    const sms = new RecordingSms();
    sms.failWith = new Error('Twilio is down too');
    const deps = webhookDeps({ config: testConfig(), db: t.db(), scheduler: new RecordingScheduler(), sms });
    expect(await drainSpool(deps, createDirectorySpool(dir))).toMatchObject({ applied: 1, left: 0 });
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 1 });
  });

  it('a drain while the database is still down applies nothing and keeps everything', async () => {
    const outage = appOn(down);
    expect((await post(outage, '/twilio/inbound', inboundParams(PHONE, 'STOP'))).status).toBe(503);
    const deps = webhookDeps({
      config: testConfig(),
      db: down,
      scheduler: new RecordingScheduler(),
      sms: new RecordingSms(),
      retry: { budgetMs: 0 },
    });
    expect(await drainSpool(deps, createDirectorySpool(dir))).toMatchObject({ applied: 0, left: 1 });
    expect(await readdir(dir)).toHaveLength(1);
  });

  it('without a spool, or when the spool fails too, the answer is still 503 (never 500)', async () => {
    const noSpool = testApp({ db: down, retry: { budgetMs: 0 } });
    expect((await post(noSpool, '/twilio/inbound', inboundParams(PHONE, 'STOP'))).status).toBe(503);
    const brokenSpool = testApp({
      db: down,
      retry: { budgetMs: 0 },
      spool: createDirectorySpool(path.join(dir, 'file-not-dir', '\0')),
    });
    expect((await post(brokenSpool, '/twilio/inbound', inboundParams(PHONE, 'STOP'))).status).toBe(503);
  });

  it('keeps a webhook when Postgres refuses the password even after a re-read (28P01, mid-rotation)', async () => {
    // Between a single-user rotation's setSecret and finishSecret the database has the new password and the
    // secret still the old one: every new connection is refused, and re-reading the secret changes nothing.
    const refusing = net.createServer((socket) =>
      socket.once('data', () => socket.end(fatal('28P01', 'password authentication failed for user "app"'))),
    );
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const url = `postgres://app@127.0.0.1:${(refusing.address() as net.AddressInfo).port}/app`;
    const pool = createPool({
      connectionString: url,
      max: 1,
      credentials: fixedCredentials({ url, password: 'old' }),
    });
    try {
      const app = appOn(dbOnPool(pool));
      const res = await post(app, '/twilio/inbound', inboundParams(PHONE, 'STOP'));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await readdir(dir)).toHaveLength(1);
    } finally {
      await pool.end();
      refusing.close();
    }
  });
});

/** A server's FATAL ErrorResponse message (the wire protocol's 'E'), as Postgres sends it at startup. */
function fatal(code: string, message: string): Buffer {
  const fields = Buffer.concat([
    ...[`SFATAL`, `VFATAL`, `C${code}`, `M${message}`].map((field) => Buffer.from(`${field}\0`)),
    Buffer.from([0]),
  ]);
  const length = Buffer.alloc(4);
  length.writeInt32BE(fields.length + 4);
  return Buffer.concat([Buffer.from('E'), length, fields]);
}
