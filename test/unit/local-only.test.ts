// The dev page's guard (src/local/local-only.ts): this machine's loopback Host and port only, and no
// state-changing request a browser marks as coming from another site. The whole server is exercised in
// test/e2e/local-server.test.ts and, with Chromium, in test/e2e/dev-phone.browser.test.ts.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { localOnly } from '../../src/local/local-only.js';

const PORT = 3000;
const app = new Hono().use(localOnly(PORT)).all('/dev/*', (c) => c.text('ok'));
const status = async (method: string, headers: Record<string, string>) =>
  (await app.request('/dev/text', { method, headers })).status;
const OWN = `localhost:${PORT}`;

describe('localOnly', () => {
  it.each([
    [OWN, 200],
    [`127.0.0.1:${PORT}`, 200],
    [`[::1]:${PORT}`, 200],
    [`LocalHost:${PORT}`, 200],
    ['localhost', 403],
    [`localhost:${PORT + 1}`, 403],
    [`localhost.:${PORT}`, 403],
    [`rebind.attacker.example:${PORT}`, 403],
    [`127.0.0.2:${PORT}`, 403],
    [`[::ffff:127.0.0.1]:${PORT}`, 403],
    [`localhost:${PORT}@evil.example`, 403],
    ['', 403],
  ])('GET with Host %j → %i', async (host, expected) => {
    expect(await status('GET', { host })).toBe(expected);
  });

  it.each([
    [
      'page posting its own form (Chromium)',
      { origin: `http://${OWN}`, 'sec-fetch-site': 'same-origin' },
      200,
    ],
    ['own form, Referrer-Policy no-referrer', { origin: 'null', 'sec-fetch-site': 'same-origin' }, 200],
    ['own form, older browser', { origin: `http://${OWN}` }, 200],
    ['curl: neither header', {}, 200],
    ['another site', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, 403],
    ['another port of localhost', { origin: `http://localhost:5173`, 'sec-fetch-site': 'same-site' }, 403],
    ['Sec-Fetch-Site alone', { 'sec-fetch-site': 'cross-site' }, 403],
    ['older browser, another site', { origin: 'https://evil.example' }, 403],
    ['older browser, https of the same host', { origin: `https://${OWN}` }, 403],
    ['older browser, sandboxed frame', { origin: 'null' }, 403],
    ['older browser, 127.0.0.1 posting to localhost', { origin: `http://127.0.0.1:${PORT}` }, 403],
  ])('POST, %s → %i', async (_what, headers: Record<string, string>, expected) => {
    expect(await status('POST', { host: OWN, ...headers })).toBe(expected);
    expect(await status('DELETE', { host: OWN, ...headers })).toBe(expected);
  });

  it('lets another site open the page (a GET), never change anything; refusals are one plain line', async () => {
    const crossSite = { host: OWN, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
    expect(await status('GET', crossSite)).toBe(200);
    const refused = await app.request('/dev/text', { method: 'POST', headers: crossSite });
    expect(refused.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await refused.text()).toBe(
      'Forbidden: the dev page takes forms only from its own page, not from another site.\n',
    );
  });
});
