// End to end over real HTTP and real Postgres: the one-machine server started in this process on a free
// port, a subscriber added through the API, YES and STOP texted through the signed inbound route, a
// message sent now through the dev page, delivered by the outbox's signed status callbacks.
// The dev page: the same refusals as the API, a zone it can fix, local times, and why nothing was planned.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../src/local/embedded-postgres.js';
import { textAsSubscriber } from '../../src/local/phone-simulator.js';
import { buildLocalRuntime } from '../../src/local/runtime.js';
import { type LocalServer, startLocalServer } from '../../src/local/server.js';
import { logger } from '../../src/logger.js';
import { deliveriesWithStatus, useTestDb } from '../support/db.js';
import { eventually } from '../support/eventually.js';

const { db, url } = useTestDb();
const PHONE = '+14155550123';

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
  const simulator = () => server.simulator;
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
    const optIn = await eventually(
      'the opt-in text delivered',
      outbox,
      (rows) => rows[0]?.status === 'delivered',
    );
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
      "today's message delivered",
      () => deliveriesWithStatus(db()).executeTakeFirstOrThrow(),
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
      'the delivery planned before the restart delivered',
      () => deliveriesWithStatus(db()).where('local_date', '=', today).executeTakeFirstOrThrow(),
      (d) => d.delivery_status === 'delivered',
    );
    expect(sent).toMatchObject({ state: 'sent', delivery_status: 'delivered' });
    await server.stop();
    server = await startLocalServer({ env, dataDir, outboxStepDelayMs: 20, announce: false });
    await server.runtime.inFlight();
    expect((await outbox()).filter((m) => m.to_phone === PHONE)).toHaveLength(1);
  });
  describe('dev page', () => {
    /** Posts a dev-page form and returns the page the redirect leads to. */
    async function post(action: string, form: Record<string, string>): Promise<string> {
      const response = await fetch(`${server.url}${action}`, {
        method: 'POST',
        body: new URLSearchParams(form),
        redirect: 'manual',
      });
      expect(response.status).toBe(303);
      return page(response.headers.get('location') ?? '/dev');
    }
    const page = async (at: string) => (await fetch(new URL(at, server.url))).text();
    const noteOf = (html: string) => /data-testid="note">([^<]*)</.exec(html)?.[1] ?? '';
    const zoneOf = async (phone = PHONE) =>
      (await db().selectFrom('subscribers').select('time_zone').where('phone', '=', phone).executeTakeFirst())
        ?.time_zone;

    it("refuses an invalid time zone with the API's words, keeps what was typed and saves nothing", async () => {
      const html = await post('/dev/subscribers', { phone: PHONE, timeZone: 'Mars/Olympus', name: 'Ana' });
      expect(noteOf(html)).toBe('Not added: timeZone: must be an IANA time zone such as America/New_York');
      expect(html).toMatch(/name="phone"[^>]*value="\+14155550123"/);
      expect(html).toMatch(/name="timeZone"[^>]*value="Mars\/Olympus"/);
      expect(html).toMatch(/name="name"[^>]*value="Ana"/);
      expect(await zoneOf()).toBeUndefined();
    });

    it('answers a 51-character name as the API does, never with a database error; inputs carry maxlength', async () => {
      const html = await post('/dev/subscribers', { phone: PHONE, timeZone: 'UTC', name: 'x'.repeat(51) });
      expect(noteOf(html)).toBe('Not added: name: must be at most 50 characters');
      expect(html).not.toMatch(/constraint/);
      expect(html).toMatch(/name="phone"[^>]*maxlength="\d+"/);
      expect(html).toMatch(/name="timeZone"[^>]*maxlength="\d+"/);
      expect(html).toMatch(/name="name"[^>]*maxlength="50"/);
    });

    it('stores asia/tokyo as Asia/Tokyo, and changes a zone the page once accepted', async () => {
      await post('/dev/subscribers', { phone: PHONE, timeZone: 'asia/tokyo', name: '' });
      expect(await zoneOf()).toBe('Asia/Tokyo');

      // A subscriber stored with a zone that is no place (as the page accepted before): shown, and fixable.
      const other = '+14155550124';
      await db()
        .insertInto('subscribers')
        .values({ phone: other, status: 'active', time_zone: 'Mars/Olympus', confirmed_at: new Date() })
        .execute();
      expect(await page(`/dev?phone=${encodeURIComponent(other)}`)).toMatch(/not a valid time zone/);
      const refused = await post('/dev/timezone', { phone: other, timeZone: 'Venus/Maxwell' });
      expect(noteOf(refused)).toBe(
        'Not changed: timeZone: must be an IANA time zone such as America/New_York',
      );
      expect(await zoneOf(other)).toBe('Mars/Olympus');
      const fixed = await post('/dev/timezone', { phone: other, timeZone: 'europe/paris' });
      expect(noteOf(fixed)).toMatch(/Europe\/Paris/);
      expect(await zoneOf(other)).toBe('Europe/Paris');
    });

    it('shows local times beside UTC, the next planned delivery, and why a run planned nothing', async () => {
      // Prepare: an active subscriber in Tokyo, planned by the page's "Plan today", who has texted HELP.
      await db()
        .insertInto('subscribers')
        .values({ phone: PHONE, status: 'active', time_zone: 'Asia/Tokyo', confirmed_at: new Date() })
        .execute();
      expect(noteOf(await post('/dev/plan', { phone: PHONE }))).toMatch(/^Planned [12] new deliver/);
      await textAsSubscriber(simulator(), PHONE, 'HELP');
      const next = await db()
        .selectFrom('deliveries')
        .select(['local_date', 'planned_at'])
        .where('state', '=', 'planned')
        .orderBy('planned_at')
        .executeTakeFirstOrThrow();
      const at = next.planned_at as Date;

      // Act
      const html = await page(`/dev?phone=${encodeURIComponent(PHONE)}`);
      const again = noteOf(await post('/dev/plan', { phone: PHONE }));

      // Assess: the planned time in Tokyo and in UTC; each text's time in Tokyo too; why nothing was planned.
      const hhmm = (d: Date, timeZone: string) =>
        new Intl.DateTimeFormat('en-GB', {
          timeZone,
          hour: '2-digit',
          minute: '2-digit',
          hourCycle: 'h23',
        }).format(d);
      expect(html).toContain(
        `Next delivery: ${next.local_date} ${hhmm(at, 'Asia/Tokyo')} Asia/Tokyo (${hhmm(at, 'UTC')} UTC)`,
      );
      expect(html).toMatch(/data-testid="msg-in"[\s\S]*\d\d:\d\d Asia\/Tokyo · \d\d:\d\d:\d\d UTC/);
      expect(again).toMatch(/^Planned 0 new deliveries; 0 scheduled\. /);
      expect(again).toMatch(/1 active subscriber already has a delivery for each window/);
    });

    it('log lines carry the correlation keys of their own work only', async () => {
      // Prepare: capture the JSON log lines.
      const lines: string[] = [];
      logger.setLogLevel('INFO');
      vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => {
        lines.push(String(chunk));
        return true;
      }) as never);
      try {
        // Act: an inbound text (its MessageSid a correlation key), then a planner run from the page.
        const text = await textAsSubscriber(simulator(), PHONE, 'START');
        expect(text.status).toBe(200);
        await post('/dev/plan', {});
      } finally {
        vi.restoreAllMocks();
        logger.setLogLevel('SILENT');
      }

      // Assess: the inbound lines carry the SID; the planner's line, other work, does not.
      const parsed = lines
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      const planner = parsed.filter((l) => l.message === 'planner run finished');
      expect(planner.length).toBeGreaterThan(0);
      for (const line of planner) expect(line).not.toHaveProperty('messageSid');
      expect(parsed.some((l) => l.messageSid !== undefined)).toBe(true);
    });

    describe('other sites and other hosts', () => {
      /** One HTTP request with exactly these headers (fetch would not let us set Host). */
      function raw(
        method: string,
        at: string,
        headers: Record<string, string> = {},
        body?: string,
      ): Promise<{ status: number; type: string; text: string }> {
        const target = new URL(at, server.url);
        return new Promise((resolve, reject) => {
          const req = request(target, { method, headers }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', text }),
            );
          });
          req.on('error', reject);
          req.end(body);
        });
      }
      const port = () => server.runtime.config.PORT;
      const form = (fields: Record<string, string>) => ({
        body: new URLSearchParams(fields).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      const ledger = () => db().selectFrom('consent_events').select(['kind', 'source']).execute();

      it('refuses cross-site form posts: no forged YES, no opt-in text, no send, no plan', async () => {
        // Prepare: a subscriber added by the page's own form, as Chromium posts it (same-origin).
        const own = { origin: `http://127.0.0.1:${port()}`, 'sec-fetch-site': 'same-origin' };
        const add = form({ phone: PHONE, timeZone: 'UTC', name: '' });
        expect((await raw('POST', '/dev/subscribers', { ...add.headers, ...own }, add.body)).status).toBe(
          303,
        );
        const before = { ledger: await ledger(), outbox: (await outbox()).length };
        expect(before.ledger).toEqual([{ kind: 'opt_in', source: 'operator' }]);

        // Act: the same forms posted by another site, the ways browsers mark it.
        const foreign: Record<string, string>[] = [
          { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
          { 'sec-fetch-site': 'cross-site' },
          { 'sec-fetch-site': 'same-site' },
          { origin: 'https://evil.example' },
          { origin: 'null' },
          { origin: `http://localhost:${port() + 1}` },
          { origin: `http://127.0.0.1:${port()}`, 'sec-fetch-site': 'cross-site' },
        ];
        const actions: [string, Record<string, string>][] = [
          ['/dev/text', { phone: PHONE, body: 'YES' }],
          ['/dev/subscribers', { phone: '+14155550124', timeZone: 'UTC', name: '' }],
          ['/dev/send-now', { phone: PHONE }],
          ['/dev/plan', { phone: PHONE }],
          ['/dev/timezone', { phone: PHONE, timeZone: 'Asia/Tokyo' }],
        ];
        for (const headers of foreign) {
          for (const [action, fields] of actions) {
            const posted = form(fields);
            const answer = await raw('POST', action, { ...posted.headers, ...headers }, posted.body);
            // Assess: a short plain 403, and nothing changed.
            expect(answer.status, `${action} ${JSON.stringify(headers)}`).toBe(403);
            expect(answer.type).toMatch(/^text\/plain/);
          }
        }
        expect(await ledger()).toEqual(before.ledger);
        expect(await subscriberStatus()).toBe('pending');
        expect((await outbox()).length).toBe(before.outbox);
        expect(await zoneOf()).toBe('UTC');
        expect(await db().selectFrom('deliveries').select('id').execute()).toEqual([]);

        // A client that is no browser (curl: no Origin, no Sec-Fetch-Site) still works, as the page itself does.
        const yes = form({ phone: PHONE, body: 'YES' });
        expect((await raw('POST', '/dev/text', yes.headers, yes.body)).status).toBe(303);
        expect(await subscriberStatus()).toBe('active');
      });

      it('answers the dev page only on its own loopback host and port (DNS rebinding), the webhooks and API on any', async () => {
        // Prepare
        await post('/dev/subscribers', { phone: PHONE, timeZone: 'UTC', name: '' });
        const token = server.runtime.config.secrets.API_TOKEN;

        // Act + Assess: a name that resolves to this machine is not enough.
        for (const host of [
          `rebind.attacker.example:${port()}`,
          `127.0.0.1:${port() + 1}`,
          `localhost:${port() + 1}`,
          `127.0.0.1`,
          `localhost.:${port()}`,
          `127.0.0.2:${port()}`,
        ]) {
          for (const at of [
            '/dev',
            `/dev?phone=${encodeURIComponent(PHONE)}`,
            '/dev/thread?phone=x',
            '/',
            '/favicon.svg',
          ]) {
            const answer = await raw('GET', at, { host });
            expect(answer.status, `${host} ${at}`).toBe(403);
            expect(answer.text).not.toContain('4155550123');
          }
          const yes = form({ phone: PHONE, body: 'YES' });
          expect((await raw('POST', '/dev/text', { ...yes.headers, host }, yes.body)).status).toBe(403);
        }
        expect(await subscriberStatus()).toBe('pending');
        for (const host of [
          `localhost:${port()}`,
          `127.0.0.1:${port()}`,
          `[::1]:${port()}`,
          `LOCALHOST:${port()}`,
        ]) {
          const answer = await raw('GET', `/dev?phone=${encodeURIComponent(PHONE)}`, { host });
          expect(answer.status, host).toBe(200);
          expect(answer.text).toContain(PHONE);
        }

        // Behind a tunnel the Host is the tunnel's: the API (bearer token) and /health still answer.
        const tunnel = { host: 'abc123.ngrok-free.app' };
        expect((await raw('GET', '/health', tunnel)).status).toBe(200);
        const listed = await raw('GET', '/api/subscribers', { ...tunnel, authorization: `Bearer ${token}` });
        expect(listed.status).toBe(200);
        expect(listed.text).toContain(PHONE);
      });
    });
  });
});

describe('.env copied from .env.example', () => {
  it('changes nothing: the same settings as an empty environment, the outbox still answers STOP', async () => {
    // Prepare: what `cp .env.example .env` puts in the environment, and a bare environment.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dps-env-copy-'));
    const base = { DATABASE_URL: url(), PORT: String(await freePort()) };
    const copied = { ...parseEnv(await readFile('.env.example', 'utf8')), ...base };
    const runtimes = [];
    try {
      // Act
      for (const env of [copied, base])
        runtimes.push(await buildLocalRuntime({ env, dataDir, migrate: 'local', poolMax: 1 }));

      // Assess
      const [fromCopy, bare] = runtimes.map((r) => r.config);
      expect(fromCopy?.TWILIO_ADVANCED_OPT_OUT).toBe(false);
      expect(fromCopy).toEqual(bare);
    } finally {
      for (const r of runtimes) await r.close();
      await rm(dataDir, { recursive: true, force: true });
    }
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
