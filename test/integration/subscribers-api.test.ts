// The subscriber config API against a real Postgres: auth, create (pending + double opt-in SMS), read,
// patch, delete (opt out, erase name, keep the ledger), bad input, rate limiting.
import fc from 'fast-check';
import type { Hono } from 'hono';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { RecipientOptedOut, SmsError } from '../../src/services/ports.js';
import { useTestDb } from '../support/db.js';
import {
  API_TOKEN,
  CountingLimiter,
  inboundParams,
  RecordingScheduler,
  RecordingSms,
  rowCounts,
  seedSubscriber,
  signedForm,
  testConfig,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
const AUTH = { authorization: `Bearer ${API_TOKEN}` };
let sms: RecordingSms;
let scheduler: RecordingScheduler;
let app: Hono;

beforeEach(() => {
  sms = new RecordingSms();
  scheduler = new RecordingScheduler();
  app = createApp({ config: testConfig(), db: t.db(), sms, scheduler });
});

function call(method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  return app.request(path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;
const path = (phone = PHONE) => `/api/subscribers/${encodeURIComponent(phone)}`;

describe('authentication', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcdefghij' }],
    ['a prefix of the token', { authorization: `Bearer ${API_TOKEN.slice(0, 10)}` }],
    ['Basic auth', { authorization: `Basic ${Buffer.from(`x:${API_TOKEN}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('%s → 401 JSON, nothing written', async (_label, headers) => {
    const res = await call('POST', '/api/subscribers', { phone: PHONE }, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.json()).toHaveProperty('error');
    expect(await rowCounts(t.db())).toMatchObject({ subscribers: 0 });
    expect(sms.sent).toEqual([]);
  });

  it('with no API_TOKEN configured the API refuses everyone', async () => {
    const config = testConfig();
    config.credentials.api = undefined;
    app = createApp({ config, db: t.db(), sms, scheduler });
    const res = await call('GET', path());
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatch(/API_TOKEN/);
  });
});

describe('POST /api/subscribers', () => {
  it('creates a pending subscriber, records the sign-up and texts the double opt-in request', async () => {
    const res = await call('POST', '/api/subscribers', {
      phone: '+1 (212) 555-0123',
      timeZone: 'Europe/Paris',
      name: 'Ada',
    });

    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      phone: PHONE,
      status: 'pending',
      timeZone: 'Europe/Paris',
      name: 'Ada',
      paused: false,
    });
    expect(sms.sent).toEqual([
      {
        to: PHONE,
        body: 'Daily Positivity: Reply YES to get one positive message a day. Msg & data rates may apply. Reply HELP for help, STOP to opt out.',
        statusCallback: 'https://sms.example.com/twilio/status',
      },
    ]);
    expect(await t.db().selectFrom('consent_events').selectAll().execute()).toMatchObject([
      { phone: PHONE, kind: 'opt_in', source: 'api' },
    ]);
  });

  it('uses DEFAULT_TIMEZONE when none is given, and YES by SMS then activates', async () => {
    await call('POST', '/api/subscribers', { phone: PHONE });
    const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'YES'));
    await app.request('/twilio/inbound', { method: 'POST', body, headers });
    const res = await call('GET', path());
    expect(await res.json()).toMatchObject({ status: 'active', timeZone: 'America/Chicago' });
  });

  it.each([
    ['pending', /already exists/],
    ['active', /already exists/],
    ['opted_out', /START/],
  ] as const)('an existing %s subscriber → 409, no SMS', async (status, message) => {
    await seedSubscriber(t.db(), { phone: PHONE, status });
    const res = await call('POST', '/api/subscribers', { phone: PHONE });
    expect(res.status).toBe(409);
    expect(await errorOf(res)).toMatch(message);
    expect(sms.sent).toEqual([]);
  });

  it.each([
    [new RecipientOptedOut('Unsubscribed recipient', 21610), 409],
    [new SmsError('Invalid To number', 21211, false), 422],
    [new SmsError('Twilio 503', null, true), 502],
  ])('when Twilio refuses the opt-in SMS (%s) → %i and nothing is saved', async (error, status) => {
    sms.failWith = error;
    const res = await call('POST', '/api/subscribers', { phone: PHONE });
    expect(res.status).toBe(status);
    expect(await rowCounts(t.db())).toMatchObject({ subscribers: 0, consent_events: 0 });
  });

  it.each([
    ['an invalid phone', { phone: '+1555' }, /phone: must be a valid phone number/],
    ['a phone without +', { phone: '2125550123' }, /phone/],
    ['no phone', {}, /phone/],
    ['a phone that is a number', { phone: 12125550123 }, /phone/],
    ['a bad time zone', { phone: PHONE, timeZone: 'Mars/Olympus' }, /timeZone: must be an IANA time zone/],
    ['an offset as time zone', { phone: PHONE, timeZone: 'UTC+3' }, /timeZone/],
    ['a name too long', { phone: PHONE, name: 'x'.repeat(51) }, /name: must be at most 50/],
    ['an empty name', { phone: PHONE, name: '  ' }, /name: must not be empty/],
    [
      'a NUL in the name',
      { phone: PHONE, name: 'Ana\u0000' },
      /^name: must not contain control characters \(found U\+0000\)$/,
    ],
    ['an ESC in the name', { phone: PHONE, name: 'a\u001bb' }, /^name: must not contain control characters/],
    ['a lone surrogate in the name', { phone: PHONE, name: '\ud800x' }, /^name: must be valid Unicode text/],
    ['an invisible name', { phone: PHONE, name: '\u200b' }, /^name: must not be empty$/],
    ['an unknown field', { phone: PHONE, timezone: 'Europe/Paris' }, /unknown field\(s\): timezone/],
    ['an array', [PHONE], /expected object/i],
  ])('%s → 400 saying what is wrong', async (_label, body, message) => {
    const res = await call('POST', '/api/subscribers', body);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatch(message);
    expect(await rowCounts(t.db())).toMatchObject({ subscribers: 0 });
  });

  it('says what is wrong without repeating the field name', async () => {
    const res = await call('POST', '/api/subscribers', { phone: 12125550123, timeZone: 7 });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toBe(
      'phone: must be a valid phone number in E.164 form, such as +14155550123; ' +
        'timeZone: must be an IANA time zone such as America/New_York',
    );
  });

  it('stores the canonical IANA name of a zone given in another case', async () => {
    const created = await call('POST', '/api/subscribers', { phone: PHONE, timeZone: 'asia/tokyo' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ timeZone: 'Asia/Tokyo' });
    const patched = await call('PATCH', path(), { timeZone: 'EUROPE/PARIS' });
    expect(await patched.json()).toMatchObject({ timeZone: 'Europe/Paris' });
    const row = await t.db().selectFrom('subscribers').select('time_zone').executeTakeFirstOrThrow();
    expect(row.time_zone).toBe('Europe/Paris');
  });

  it('malformed JSON → 400; wrong content type → 415; oversize → 413', async () => {
    const malformed = await call('POST', '/api/subscribers', '{"phone": ');
    expect(malformed.status).toBe(400);
    expect(await errorOf(malformed)).toMatch(/not valid JSON/);
    const form = await call('POST', '/api/subscribers', undefined, { ...AUTH, 'content-type': 'text/plain' });
    expect(form.status).toBe(415);
    const big = await call('POST', '/api/subscribers', { phone: PHONE, name: 'x'.repeat(70_000) });
    expect(big.status).toBe(413);
    expect(await big.json()).toHaveProperty('error');
  });
});

describe('JSON bodies that are not Unicode text (RFC 8259 §8.1, §8.2)', () => {
  const post = (body: Uint8Array | string) =>
    app.request('/api/subscribers', {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body,
    });
  /** Byte sequences no UTF-8 decoder may accept: each was stored as U+FFFD. */
  const INVALID_UTF8 = [
    [0xff],
    [0xc0, 0xaf], // overlong "/"
    [0xed, 0xa0, 0x80], // a surrogate, encoded
    [0xe2, 0x82], // truncated
    [0x80], // a lone continuation byte
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  ];

  it('invalid UTF-8 anywhere in a string → 400, nothing stored, nothing sent', async () => {
    const encoder = new TextEncoder();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...INVALID_UTF8), fc.nat({ max: 3 }), async (bad, at) => {
        const [head, tail] = [
          encoder.encode(`{"phone":"${PHONE}","name":"${'Ana'.slice(0, at)}`),
          encoder.encode(`${'Ana'.slice(at)}"}`),
        ];
        const res = await post(new Uint8Array([...head, ...bad, ...tail]));
        expect(res.status).toBe(400);
        expect(await errorOf(res)).toBe('the body is not valid JSON: it is not UTF-8 text');
      }),
      { numRuns: 30 },
    );
    expect(await rowCounts(t.db())).toMatchObject({ subscribers: 0, consent_events: 0 });
    expect(sms.sent).toEqual([]);
  });

  it('a lone surrogate escaped in any string or key → 400 naming where, nothing stored', async () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((cp) => `\\u${cp.toString(16)}`);
    await fc.assert(
      fc.asyncProperty(lone, fc.constantFrom('name', 'timeZone', 'key'), async (escaped, where) => {
        const body =
          where === 'key'
            ? `{"phone":"${PHONE}","x${escaped}":1}`
            : `{"phone":"${PHONE}","${where}":"Ana${escaped}"}`;
        const res = await post(body);
        expect(res.status).toBe(400);
        expect(await errorOf(res)).toMatch(
          where === 'key'
            ? /^a field name must be valid Unicode text \(found a lone surrogate U\+D[89A-F][0-9A-F]{2}\)$/
            : new RegExp(
                `^${where}: must be valid Unicode text \\(found a lone surrogate U\\+D[89A-F][0-9A-F]{2}\\)$`,
              ),
        );
      }),
      { numRuns: 30 },
    );
    expect(await rowCounts(t.db())).toMatchObject({ subscribers: 0 });
    // Found however deep it is, without overflowing the stack (a 500).
    const deep = await post(`${'['.repeat(30_000)}"\\udc00"${']'.repeat(30_000)}`);
    expect(deep.status).toBe(400);
    expect(await errorOf(deep)).toBe('0.0.0.0.…: must be valid Unicode text (found a lone surrogate U+DC00)');
    // A pair is one character, and welcome.
    const paired = await post(`{"phone":"${PHONE}","name":"Ana \\ud83d\\ude00"}`);
    expect(paired.status).toBe(201);
    expect(await paired.json()).toMatchObject({ name: 'Ana 😀' });
  });
});

describe('GET, PATCH, DELETE /api/subscribers/:phone', () => {
  it('GET returns the subscriber; unknown → 404; bad phone → 400', async () => {
    await seedSubscriber(t.db(), { phone: PHONE, name: 'Ada' });
    const found = await call('GET', path());
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({ phone: PHONE, status: 'active', name: 'Ada' });
    expect((await call('GET', path('+12125550199'))).status).toBe(404);
    const bad = await call('GET', '/api/subscribers/not-a-phone');
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatch(/E\.164/);
  });

  it('PATCH changes time zone and name, and pausing cancels the planned delivery', async () => {
    const { delivery } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    const res = await call('PATCH', path(), { timeZone: 'Asia/Tokyo', name: 'Grace', paused: true });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ timeZone: 'Asia/Tokyo', name: 'Grace', paused: true });
    expect(await t.db().selectFrom('deliveries').select(['state', 'reason']).executeTakeFirst()).toEqual({
      state: 'cancelled',
      reason: 'paused',
    });
    expect(scheduler.cancelled).toEqual([delivery?.id]);
    const resumed = await call('PATCH', path(), { paused: false, name: null });
    expect(await resumed.json()).toMatchObject({ paused: false, name: null });
  });

  it.each([
    ['an empty patch', {}, 400],
    ['a bad time zone', { timeZone: 'Nowhere' }, 400],
    ['paused as a string', { paused: 'yes' }, 400],
    ['an unknown field', { status: 'active' }, 400],
    ['a NUL in the name', { name: 'Ana\u0000' }, 400],
    ['a lone surrogate in the name', { name: 'Ana\udc00' }, 400],
  ])('PATCH with %s → %i', async (_label, body, status) => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await call('PATCH', path(), body);
    expect(res.status).toBe(status);
    expect(await res.json()).toHaveProperty('error');
  });

  it('PATCH on an opted-out subscriber → 409; on an unknown one → 404', async () => {
    await seedSubscriber(t.db(), { phone: PHONE, status: 'opted_out' });
    expect((await call('PATCH', path(), { name: 'Ada' })).status).toBe(409);
    expect((await call('PATCH', path('+12125550199'), { name: 'Ada' })).status).toBe(404);
  });

  it('DELETE opts out, erases the name, cancels the planned delivery and keeps the consent ledger', async () => {
    await call('POST', '/api/subscribers', { phone: PHONE, name: 'Ada' });
    const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'YES'));
    await app.request('/twilio/inbound', { method: 'POST', body, headers });

    const res = await call('DELETE', path());

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ phone: PHONE, status: 'opted_out', name: null });
    expect(
      await t.db().selectFrom('consent_events').select(['kind', 'source']).orderBy('id').execute(),
    ).toEqual([
      { kind: 'opt_in', source: 'api' },
      { kind: 'confirm', source: 'sms' },
      { kind: 'opt_out', source: 'api' },
    ]);
    expect((await call('DELETE', path())).status).toBe(200); // idempotent
    expect((await call('DELETE', path('+12125550199'))).status).toBe(404);
  });

  it('a phone in the path or body with other text or an extension → 400, and nobody is touched', async () => {
    await seedSubscriber(t.db(), { phone: PHONE, name: 'Ada' });
    for (const typed of [
      `${PHONE} is wrong, do not touch`,
      `call ${PHONE} now`,
      `${PHONE}abc`,
      `${PHONE} ext. 5`,
    ]) {
      for (const method of ['GET', 'PATCH', 'DELETE']) {
        const res = await call(method, path(typed), method === 'PATCH' ? { paused: true } : undefined);
        expect(res.status, `${method} ${typed}`).toBe(400);
        expect(await errorOf(res)).toMatch(/phone in the path must be a valid phone number in E\.164 form/);
      }
      const created = await call('POST', '/api/subscribers', { phone: typed.replace(PHONE, '+12125550124') });
      expect(created.status, `POST ${typed}`).toBe(400);
      expect(await errorOf(created)).toMatch(/^phone: must be a valid phone number/);
    }
    expect(
      await t.db().selectFrom('subscribers').select(['phone', 'status', 'paused', 'name']).execute(),
    ).toEqual([{ phone: PHONE, status: 'active', paused: false, name: 'Ada' }]);
    expect(sms.sent).toEqual([]);
    // The usual separators still name the number.
    expect((await call('GET', path('+1 (212) 555-0123'))).status).toBe(200);
    expect((await call('GET', path('+1.212.555.0123'))).status).toBe(200);
  });

  it('wrong methods → 405 with Allow; unknown API routes → 404 JSON', async () => {
    const put = await call('PUT', path(), { name: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, PATCH, DELETE');
    const putAll = await call('PUT', '/api/subscribers', { name: 'x' });
    expect(putAll.status).toBe(405);
    expect(putAll.headers.get('allow')).toBe('GET, POST');
    const unknown = await call('GET', '/api/nothing');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toHaveProperty('error');
  });
});

describe('rate limiting', () => {
  it('counts per API token and answers 429 JSON with Retry-After', async () => {
    const limiter = new CountingLimiter(2, 12_500);
    app = createApp({ config: testConfig(), db: t.db(), sms, scheduler, limiter });
    expect((await call('GET', path())).status).toBe(404);
    expect((await call('GET', path())).status).toBe(404);
    const limited = await call('GET', path());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('13');
    expect(await errorOf(limited)).toMatch(/too many requests/);
    expect([...limiter.counts.keys()]).toEqual([expect.stringMatching(/^api\|token:[0-9a-f]{16}$/)]);
    expect([...limiter.counts.keys()][0]).not.toContain(API_TOKEN);
  });
});
