// End to end over real HTTP and real Postgres: the one-machine server started in this process on a free
// port, a subscriber added through the API, YES and STOP texted through the signed inbound route, a
// message sent now through the dev page, delivered by the outbox's signed status callbacks.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/embedded-postgres.js';
import { textAsSubscriber } from '../../src/local/phone-simulator.js';
import { type LocalServer, startLocalServer } from '../../src/local/server.js';
import { useTestDb } from '../support/db.js';

const { db, url } = useTestDb();
const PHONE = '+14155550123';

/** Polls `read` until `done` holds (callbacks arrive asynchronously), failing after `ms`. */
async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('one-machine server, end to end', () => {
  let server: LocalServer;
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-e2e-'));
    server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(await freePort()), LOG_LEVEL: 'SILENT' },
      dataDir,
      outboxStepDelayMs: 20,
      announce: false,
    });
  });
  afterEach(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const base = () => server.runtime.config.PUBLIC_BASE_URL;
  const simulator = () => ({
    db: db(),
    publicBaseUrl: base(),
    serverUrl: server.url,
    authToken: server.runtime.config.secrets.TWILIO_AUTH_TOKEN,
    serviceNumber: server.runtime.serviceNumber,
  });
  /** Posts the dev page's "send now" form and returns the note it redirects with. */
  async function sendNowViaPage(): Promise<string> {
    const response = await fetch(`${server.url}/dev/send-now`, {
      method: 'POST',
      body: new URLSearchParams({ phone: PHONE }),
      redirect: 'manual',
    });
    expect(response.status).toBe(303);
    return new URL(response.headers.get('location') ?? '', server.url).searchParams.get('note') ?? '';
  }
  const subscriberStatus = async () =>
    (await db().selectFrom('subscribers').select('status').where('phone', '=', PHONE).executeTakeFirst())
      ?.status;
  const outbox = () => db().selectFrom('outbox_messages').selectAll().orderBy('created_at').execute();

  it('adds, confirms with YES, sends now (delivered), refuses a second send, and stops on STOP', async () => {
    // Prepare: a generated API token and auth token, the outbox standing in for Twilio.
    expect(server.runtime.modes).toMatchObject({
      sms: 'outbox',
      writer: 'curated',
      database: 'DATABASE_URL',
    });

    // Act: sign up through the API.
    const created = await fetch(`${base()}/api/subscribers`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${server.runtime.config.secrets.API_TOKEN}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ phone: PHONE, timeZone: 'America/Los_Angeles', name: 'Ana' }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ phone: PHONE, status: 'pending' });
    const optIn = await eventually(outbox, (rows) => rows[0]?.status === 'delivered');
    expect(optIn).toHaveLength(1);
    expect(optIn[0]).toMatchObject({ to_phone: PHONE, status: 'delivered' });
    expect(optIn[0]?.body).toMatch(/YES/);

    // Before confirming, send-now is refused.
    expect(await sendNowViaPage()).toMatch(/not confirmed yet/);

    // Confirm by texting YES through the signed inbound route.
    const yes = await textAsSubscriber(simulator(), PHONE, 'YES');
    expect(yes.status).toBe(200);
    expect(await subscriberStatus()).toBe('active');
    expect(yes.reply).toBeTruthy();

    // Send now: the real sender writes a curated message, the outbox stores it and calls back.
    expect(await sendNowViaPage()).toMatch(/^Sent today's message/);
    const delivery = await eventually(
      () => db().selectFrom('deliveries').selectAll().executeTakeFirstOrThrow(),
      (d) => d.delivery_status === 'delivered',
    );
    expect(delivery).toMatchObject({ state: 'sent', delivery_status: 'delivered' });
    const sentRow = (await outbox()).find((m) => m.sid === delivery.message_sid);
    expect(sentRow).toMatchObject({ to_phone: PHONE, status: 'delivered', body: delivery.body });
    const events = await db()
      .selectFrom('delivery_status_events')
      .select('status')
      .where('message_sid', '=', delivery.message_sid as string)
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.status)).toEqual(['sent', 'delivered']);

    // A second send-now the same local day is refused by the one-delivery-per-day rule.
    expect(await sendNowViaPage()).toMatch(/already sent; one message per subscriber per day/);

    // STOP: opted out, confirmation texted back, and nothing more is sent.
    const stop = await textAsSubscriber(simulator(), PHONE, 'STOP');
    expect(stop.status).toBe(200);
    expect(await subscriberStatus()).toBe('opted_out');
    expect(await sendNowViaPage()).toMatch(/opted out/);
    const sentCount = await db()
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(sentCount.n)).toBe(1);

    // The dev page's thread shows the conversation with live statuses and the inbound texts.
    const thread = await (await fetch(`${server.url}/dev/thread?phone=${encodeURIComponent(PHONE)}`)).text();
    // The page is HTML: the message appears escaped (a curated message may hold an apostrophe).
    expect(thread).toContain(escapeHtml(delivery.body as string));
    expect(thread).toMatch(/data-testid="msg-in"[\s\S]*YES/);
    expect(thread).toMatch(/STOP/);
    expect(thread).toContain('delivered');
  });

  it('keeps pending deliveries across a restart and neither loses nor repeats a send', async () => {
    // Prepare: an active subscriber with today's delivery planned a moment from now.
    const subscriberId = (
      await db()
        .insertInto('subscribers')
        .values({ phone: PHONE, status: 'active', time_zone: 'UTC', confirmed_at: new Date() })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const now = Date.now();
    await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriberId,
        local_date: new Date(now).toISOString().slice(0, 10), // the UTC date: the subscriber is in UTC
        time_zone: 'UTC',
        window_start: new Date(now - 60_000),
        window_end: new Date(now + 3_600_000),
        planned_at: new Date(now + 1_500),
        state: 'planned',
      })
      .execute();

    // Act: restart before it is due (stop, start again on the same database).
    const env = { DATABASE_URL: url(), PORT: new URL(server.url).port, LOG_LEVEL: 'SILENT' };
    await server.stop();
    server = await startLocalServer({ env, dataDir, outboxStepDelayMs: 20, announce: false });

    // Assess: the restarted scheduler sends it once; a further restart does not send it again.
    const today = new Date(now).toISOString().slice(0, 10);
    const sent = await eventually(
      () =>
        db().selectFrom('deliveries').selectAll().where('local_date', '=', today).executeTakeFirstOrThrow(),
      (d) => d.delivery_status === 'delivered',
    );
    expect(sent).toMatchObject({ state: 'sent', delivery_status: 'delivered' });
    await server.stop();
    server = await startLocalServer({ env, dataDir, outboxStepDelayMs: 20, announce: false });
    await server.runtime.inFlight();
    expect((await outbox()).filter((m) => m.to_phone === PHONE)).toHaveLength(1);
  });
});

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
