// The dev-phone page in a real browser (playwright-core driving Debian's Chromium): add a subscriber,
// text YES, send now and watch it arrive delivered, be refused a second send, text STOP. Saves a
// screenshot to test-results/dev-phone.png (and docs/dev-phone.png with UPDATE_DOCS_SCREENSHOT=1).
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/embedded-postgres.js';
import { type LocalServer, startLocalServer } from '../../src/local/server.js';
import { useTestDb } from '../support/db.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`dev-phone browser test skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);
}
const SCREENSHOT = path.resolve('test-results/dev-phone.png');
const DOCS_SCREENSHOT = path.resolve('docs/dev-phone.png');
const PHONE = '+14155550123';

const { db, url } = useTestDb();

describe('dev-phone page in Chromium', () => {
  let server: LocalServer;
  let dataDir: string;
  let browser: Browser | undefined;

  beforeEach(async () => {
    if (!hasChromium) return;
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-browser-'));
    server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(await freePort()), LOG_LEVEL: 'SILENT' },
      dataDir,
      outboxStepDelayMs: 100,
      announce: false,
    });
  });
  afterEach(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function launch(): Promise<Browser> {
    browser ??= await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    return browser;
  }
  const note = (page: Page) => page.getByTestId('note');
  async function text(page: Page, body: string) {
    await page.getByLabel('message').fill(body);
    await page.getByTestId('text-form').getByRole('button').click();
    await page.waitForLoadState();
  }

  it.skipIf(!hasChromium)(
    'adds a subscriber, confirms with YES, sends now, refuses a second send and stops on STOP',
    async () => {
      // Prepare
      const page = await (await launch()).newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(`${server.url}/dev`);

      // Act: add a subscriber through the form; the opt-in request arrives and is delivered.
      await page.getByLabel('phone').fill(PHONE);
      await page.getByLabel('time zone').fill('America/Los_Angeles');
      await page.getByLabel('name').fill('Ana');
      await page.getByTestId('add-form').getByRole('button').click();
      await expect.poll(() => note(page).textContent()).toMatch(/Added \+14155550123 \(pending\)/);
      await expect
        .poll(() => page.getByTestId('status').first().textContent(), { timeout: 10_000 })
        .toBe('delivered');

      // YES confirms (the server signs the text and posts it to the real inbound route).
      await text(page, 'YES');
      await expect.poll(() => page.getByTestId('subscriber-status').textContent()).toBe('active');

      // Send now: the real sender, the outbox, signed callbacks; the thread shows it delivered.
      await page.getByTestId('send-now').click();
      await expect.poll(() => note(page).textContent()).toMatch(/^Sent today's message/);
      const daily = await db()
        .selectFrom('deliveries')
        .select(['body', 'message_sid'])
        .executeTakeFirstOrThrow();
      const dailyBubble = page.getByTestId('msg-out').filter({ hasText: daily.body as string });
      await expect
        .poll(() => dailyBubble.getByTestId('status').textContent(), { timeout: 10_000 })
        .toBe('delivered');

      // A second send-now the same day is refused.
      await page.getByTestId('send-now').click();
      await expect.poll(() => note(page).textContent()).toMatch(/one message per subscriber per day/);

      // STOP opts out; the confirmation shows in the thread.
      await text(page, 'STOP');
      await expect.poll(() => page.getByTestId('subscriber-status').textContent()).toBe('opted_out');
      await expect.poll(() => page.getByTestId('msg-in').count()).toBe(2);

      // Assess: the database agrees with the page; keep a screenshot.
      const subscriber = await db().selectFrom('subscribers').select('status').executeTakeFirstOrThrow();
      expect(subscriber.status).toBe('opted_out');
      const outbox = await db().selectFrom('outbox_messages').select('status').execute();
      expect(outbox.every((m) => m.status === 'delivered')).toBe(true);
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`dev-phone screenshot: ${SCREENSHOT}`);
      if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await copyFile(SCREENSHOT, DOCS_SCREENSHOT);
    },
    90_000,
  );

  it.skipIf(!hasChromium)(
    'on a 390 px phone: no sideways scrolling, an invalid zone refused with the form kept, no 404s',
    async () => {
      // Prepare: a phone-sized page; every response is watched for 404s (the favicon was one).
      const page = await (await launch()).newPage({ viewport: { width: 390, height: 844 } });
      const missing: string[] = [];
      page.on('response', (response) => {
        if (response.status() === 404) missing.push(response.url());
      });
      const fitsWidth = () =>
        // Evaluated in the page (a string: this project's TypeScript has no DOM types).
        page.evaluate<boolean>(
          'document.documentElement.scrollWidth <= document.documentElement.clientWidth',
        );
      await page.goto(`${server.url}/dev`);
      expect(await fitsWidth()).toBe(true);

      // Act: add with a zone that is no place.
      await page.getByLabel('phone').fill(PHONE);
      await page.getByLabel('time zone').fill('Mars/Olympus');
      await page.getByLabel('name').fill('Ana');
      await page.getByTestId('add-form').getByRole('button').click();

      // Assess: refused in the API's words, what was typed still there, nothing saved.
      await expect
        .poll(() => note(page).textContent())
        .toBe('Not added: timeZone: must be an IANA time zone such as America/New_York');
      expect(await page.getByLabel('phone').inputValue()).toBe(PHONE);
      expect(await page.getByLabel('time zone').inputValue()).toBe('Mars/Olympus');
      expect(await page.getByLabel('name').inputValue()).toBe('Ana');
      expect(await db().selectFrom('subscribers').selectAll().execute()).toHaveLength(0);
      expect(await fitsWidth()).toBe(true);

      // A valid add in lower case: stored as the IANA name; the subscriber's page fits the phone too.
      await page.getByLabel('time zone').fill('america/los_angeles');
      await page.getByTestId('add-form').getByRole('button').click();
      await expect.poll(() => note(page).textContent()).toMatch(/^Added \+14155550123 \(pending\)/);
      await expect.poll(() => page.getByTestId('msg-out').count(), { timeout: 10_000 }).toBe(1);
      expect(await page.getByLabel('change time zone').inputValue()).toBe('America/Los_Angeles');
      expect(await fitsWidth()).toBe(true);
      expect(missing).toEqual([]);
      await page.screenshot({ path: path.resolve('test-results/dev-phone-390.png'), fullPage: true });
    },
    60_000,
  );

  it.skipIf(!hasChromium)(
    "a page from another site cannot post the dev page's forms; its own page at localhost can",
    async () => {
      // Prepare: the dev page opened at http://localhost:<port> (as README says), a pending subscriber added
      // through its form, and a foreign page that auto-submits "YES" as that subscriber to the dev page.
      const port = server.runtime.config.PORT;
      const page = await (await launch()).newPage();
      await page.goto(`http://localhost:${port}/dev`);
      await page.getByLabel('phone').fill(PHONE);
      await page.getByTestId('add-form').getByRole('button').click();
      await expect.poll(() => note(page).textContent()).toMatch(/^Added \+14155550123 \(pending\)/);
      const forged = `<!doctype html><form method="post" action="http://localhost:${port}/dev/text">
        <input name="phone" value="${PHONE}"><input name="body" value="YES"></form>
        <script>document.forms[0].submit()</script>`;
      const foreign = createServer((_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html' }).end(forged),
      );
      await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
      const foreignPort = (foreign.address() as AddressInfo).port;
      try {
        // Act: the foreign page on another port of this machine (same-site) and under another name (cross-site).
        for (const origin of [`http://localhost:${foreignPort}`, `http://127.0.0.1:${foreignPort}`]) {
          const answer = page.waitForResponse((r) => r.url().endsWith('/dev/text'));
          await page.goto(origin);
          // Assess: refused with a plain 403; the subscriber never confirmed.
          const refused = await answer;
          expect(refused.status(), origin).toBe(403);
          expect(await refused.text()).toMatch(/^Forbidden: .*another site/);
        }
      } finally {
        await new Promise((resolve) => foreign.close(resolve));
      }
      const subscriber = await db().selectFrom('subscribers').select('status').executeTakeFirstOrThrow();
      expect(subscriber.status).toBe('pending');
      const ledger = await db().selectFrom('consent_events').select('source').execute();
      expect(ledger.map((e) => e.source)).toEqual(['operator']);

      // The page's own form still works.
      await page.goto(`http://localhost:${port}/dev?phone=${encodeURIComponent(PHONE)}`);
      await text(page, 'YES');
      await expect.poll(() => page.getByTestId('subscriber-status').textContent()).toBe('active');
    },
    60_000,
  );
});
