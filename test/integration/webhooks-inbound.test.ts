// POST /twilio/inbound against a real Postgres: keywords, consent ledger, cancellation, replies, replays,
// signatures and bad input.
import type { Hono } from 'hono';
import { beforeEach, describe, expect, it } from 'vitest';
import { STANDARD_KEYWORDS } from '../../src/domain/inbound-keywords.js';
import { useTestDb } from '../support/db.js';
import {
  inboundParams,
  RecordingScheduler,
  rowCounts,
  seedSubscriber,
  signedForm,
  testApp,
  testConfig,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';
const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

let scheduler: RecordingScheduler;
let app: Hono;

function makeApp(env: Record<string, string> = {}) {
  scheduler = new RecordingScheduler();
  app = testApp({ config: testConfig(env), db: t.db(), scheduler });
}

beforeEach(() => makeApp());

function post(params: Record<string, string>, options: Parameters<typeof signedForm>[2] = {}) {
  const { body, headers } = signedForm('/twilio/inbound', params, options);
  return app.request('/twilio/inbound', { method: 'POST', body, headers });
}

const subscriber = (phone = PHONE) =>
  t.db().selectFrom('subscribers').selectAll().where('phone', '=', phone).executeTakeFirst();
const consent = (phone = PHONE) =>
  t.db().selectFrom('consent_events').selectAll().where('phone', '=', phone).orderBy('id').execute();

describe('opt-out', () => {
  it('STOP opts out, records consent, cancels the planned delivery and stays silent for Twilio to answer', async () => {
    const { subscriber: seeded, delivery } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    const params = inboundParams(PHONE, 'STOP');

    const res = await post(params);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await res.text()).toBe(EMPTY);
    const after = await subscriber();
    expect(after).toMatchObject({ id: seeded.id, status: 'opted_out' });
    expect(after?.opted_out_at).toBeInstanceOf(Date);
    expect(await consent()).toMatchObject([
      {
        kind: 'opt_out',
        source: 'sms',
        trigger_text: 'STOP',
        message_sid: params.MessageSid,
        subscriber_id: seeded.id,
      },
    ]);
    const cancelled = await t.db().selectFrom('deliveries').selectAll().executeTakeFirstOrThrow();
    expect(cancelled).toMatchObject({ id: delivery?.id, state: 'cancelled', reason: 'opted_out' });
    expect(scheduler.cancelled).toEqual([delivery?.id]);
    const stored = await t.db().selectFrom('inbound_messages').selectAll().executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ classification: 'opt_out', subscriber_id: seeded.id, body: 'STOP' });
  });

  it('replies with a confirmation when Twilio Advanced Opt-Out is off', async () => {
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(inboundParams(PHONE, 'stop'));
    expect(await res.text()).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Daily Positivity: You&apos;re unsubscribed and will get no more messages. Reply START to subscribe again.</Message></Response>',
    );
  });

  it('non-standard wording gets exactly one confirmation even with Advanced Opt-Out on', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(inboundParams(PHONE, 'please stop texting me'));
    const text = await res.text();
    expect(text.match(/<Message>/g)).toHaveLength(1);
    expect(text).toContain('unsubscribed');
    expect((await subscriber())?.status).toBe('opted_out');
  });

  it('stays silent when Twilio says it already handled the keyword (OptOutType)', async () => {
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(inboundParams(PHONE, 'Stop.', { OptOutType: 'STOP' }));
    expect(await res.text()).toBe(EMPTY);
    expect((await subscriber())?.status).toBe('opted_out');
  });

  it('records an opt-out from a number we never knew', async () => {
    const res = await post(inboundParams(PHONE, 'UNSUBSCRIBE'));
    expect(res.status).toBe(200);
    expect(await subscriber()).toMatchObject({
      status: 'opted_out',
      time_zone: 'America/Chicago',
      name: null,
    });
    expect(await consent()).toMatchObject([{ kind: 'opt_out', source: 'sms', trigger_text: 'UNSUBSCRIBE' }]);
  });

  it('a second STOP from an opted-out subscriber adds no ledger entry, and dates their opt-out', async () => {
    await seedSubscriber(t.db(), { phone: PHONE, status: 'opted_out' });
    await t
      .db()
      .updateTable('subscribers')
      .set({ opted_out_at: new Date('2020-01-01T00:00:00Z') })
      .execute();
    const before = Date.now();

    await post(inboundParams(PHONE, 'STOP'));

    expect(await consent()).toEqual([]);
    // opted_out_at is their latest opt-out request: a START received before it must not undo it.
    expect((await subscriber())?.opted_out_at?.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('"don\'t stop!" is kept as other and opts nobody out', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(inboundParams(PHONE, "don't stop!"));
    expect(await res.text()).toBe(EMPTY);
    expect((await subscriber())?.status).toBe('active');
    expect(await t.db().selectFrom('inbound_messages').select('classification').executeTakeFirst()).toEqual({
      classification: 'other',
    });
  });
});

describe('every standard keyword over HTTP, in several casings and spacings', () => {
  const cases = Object.entries(STANDARD_KEYWORDS).flatMap(([kind, words]) =>
    words.flatMap((w) =>
      [`${w}`, ` ${w.toLowerCase()} `, `${w[0]}${w.slice(1).toLowerCase()}!`].map((b) => [b, kind]),
    ),
  );
  it.each(cases)('%j is stored as %s', async (body, kind) => {
    const res = await post(inboundParams(PHONE, body as string));
    expect(res.status).toBe(200);
    const row = await t
      .db()
      .selectFrom('inbound_messages')
      .select('classification')
      .executeTakeFirstOrThrow();
    expect(row.classification).toBe(kind);
  });
});

describe('opt-in', () => {
  it('an unknown number texting START becomes active with consent from sms', async () => {
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    const res = await post(inboundParams(PHONE, 'START'));
    const text = await res.text();
    expect(text).toContain('1 msg/day');
    expect(text).toContain('Msg &amp; data rates may apply');
    expect(text).toContain('Reply HELP for help, STOP to opt out');
    expect(await subscriber()).toMatchObject({ status: 'active', time_zone: 'America/Chicago' });
    expect(await consent()).toMatchObject([{ kind: 'opt_in', source: 'sms' }]);
  });

  it('YES confirms a pending subscriber (double opt-in)', async () => {
    await seedSubscriber(t.db(), { phone: PHONE, status: 'pending' });
    const res = await post(inboundParams(PHONE, 'YES'));
    expect(await res.text()).toBe(EMPTY); // Advanced Opt-Out (default on) answers YES itself
    const after = await subscriber();
    expect(after?.status).toBe('active');
    expect(after?.confirmed_at).toBeInstanceOf(Date);
    expect(await consent()).toMatchObject([{ kind: 'confirm', source: 'sms', trigger_text: 'YES' }]);
  });

  it('START brings back an opted-out subscriber; "yes please" gets our own confirmation', async () => {
    await seedSubscriber(t.db(), { phone: PHONE, status: 'opted_out' });
    const res = await post(inboundParams(PHONE, 'yes please'));
    expect(await res.text()).toContain('subscribed');
    expect(await subscriber()).toMatchObject({ status: 'active', opted_out_at: null });
    expect(await consent()).toMatchObject([{ kind: 'opt_in', source: 'sms' }]);
  });

  it('an active subscriber texting START changes nothing', async () => {
    await seedSubscriber(t.db(), { phone: PHONE });
    await post(inboundParams(PHONE, 'START'));
    expect(await consent()).toEqual([]);
  });
});

describe('help and other', () => {
  it('HELP answers with the service, frequency, how to stop and the contact when Twilio does not', async () => {
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    const text = await (await post(inboundParams(PHONE, 'help'))).text();
    expect(text).toContain('Daily Positivity: 1 positive msg/day');
    expect(text).toContain('STOP');
    expect(text).toContain('help@example.com');
  });

  it('"help me" is not a Twilio keyword, so we answer it even with Advanced Opt-Out on', async () => {
    const text = await (await post(inboundParams(PHONE, 'help me'))).text();
    expect(text).toContain('help@example.com');
  });

  it('other text is stored, linked to the subscriber, and answered with empty TwiML', async () => {
    const { subscriber: seeded } = await seedSubscriber(t.db(), { phone: PHONE });
    const res = await post(
      inboundParams(PHONE, 'This made my day ❤️', {
        NumMedia: '1',
        MediaUrl0: 'https://api.twilio.com/x.jpg',
      }),
    );
    expect(await res.text()).toBe(EMPTY);
    expect(await t.db().selectFrom('inbound_messages').selectAll().executeTakeFirst()).toMatchObject({
      body: 'This made my day ❤️',
      classification: 'other',
      subscriber_id: seeded.id,
      from_phone: PHONE,
      to_phone: '+14155550100',
    });
  });
});

describe('replays and signatures', () => {
  it('a replayed MessageSid changes nothing and is not answered twice', async () => {
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const params = inboundParams(PHONE, 'please stop texting me');
    const first = await (await post(params)).text();
    const before = await rowCounts(t.db());
    const states = await t.db().selectFrom('subscribers').selectAll().execute();

    const second = await post(params);

    expect(first).toContain('<Message>');
    expect(second.status).toBe(200);
    expect(await second.text()).toBe(EMPTY);
    expect(await rowCounts(t.db())).toEqual(before);
    expect(await t.db().selectFrom('subscribers').selectAll().execute()).toEqual(states);
    expect(scheduler.cancelled).toHaveLength(1);
  });

  it('the same text delivered several times at once is applied and answered once', async () => {
    // Twilio retries a webhook it timed out on while the first attempt may still be running.
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    const { subscriber: seeded } = await seedSubscriber(t.db(), { phone: PHONE }, {});
    const params = inboundParams(PHONE, 'please stop texting me');
    const answers = await Promise.all(Array.from({ length: 6 }, async () => (await post(params)).text()));
    expect(answers.filter((a) => a.includes('<Message>'))).toHaveLength(1);
    expect(answers.filter((a) => a === EMPTY)).toHaveLength(5);
    expect(await consent()).toMatchObject([{ kind: 'opt_out', subscriber_id: seeded.id }]);
    expect(await t.db().selectFrom('inbound_messages').select('subscriber_id').execute()).toEqual([
      { subscriber_id: seeded.id },
    ]);
    expect(scheduler.cancelled).toHaveLength(1);
  });

  it('a sign-up by SMS delivered several times at once makes one subscriber, one consent event, one row', async () => {
    makeApp({ TWILIO_ADVANCED_OPT_OUT: 'false' });
    const params = inboundParams(PHONE, 'START');
    const answers = await Promise.all(Array.from({ length: 6 }, async () => (await post(params)).text()));
    expect(answers.filter((a) => a.includes('<Message>'))).toHaveLength(1);
    const [joined, ...others] = await t.db().selectFrom('subscribers').selectAll().execute();
    expect(others).toEqual([]);
    expect(joined).toMatchObject({ phone: PHONE, status: 'active' });
    expect(await consent()).toMatchObject([{ kind: 'opt_in', subscriber_id: joined?.id }]);
    expect(await t.db().selectFrom('inbound_messages').select('subscriber_id').execute()).toEqual([
      { subscriber_id: joined?.id },
    ]);
  });

  it('STARTs and STOPs from a new number at once: one subscriber, every text stored with it', async () => {
    // (A text that asks nothing, like "hello", is stored with the subscriber that exists when it is read.)
    const texts = ['START', 'STOP', 'START', 'STOP', 'START', 'STOP'];
    const answers = await Promise.all(texts.map((text) => post(inboundParams(PHONE, text))));
    expect(answers.map((a) => a.status)).toEqual(texts.map(() => 200));
    const [only, ...others] = await t.db().selectFrom('subscribers').selectAll().execute();
    expect(others).toEqual([]);
    const stored = await t.db().selectFrom('inbound_messages').select('subscriber_id').execute();
    expect(stored).toHaveLength(texts.length);
    expect(new Set(stored.map((r) => r.subscriber_id))).toEqual(new Set([only?.id]));
    // The ledger ends where the subscriber is: its last event is the status it has.
    const last = (await consent()).at(-1);
    expect(last?.kind === 'opt_out' ? 'opted_out' : 'active').toBe(only?.status);
  });

  it.each([
    ['missing', { signature: null }],
    ['forged', { signature: 'bm90IGEgcmVhbCBzaWduYXR1cmU=' }],
    ['signed with another auth token', { token: 'another-auth-token-0123456789' }],
    ['signed for another URL', { baseUrl: 'https://evil.example.com' }],
  ] as const)('a %s signature → 403 and zero rows changed', async (_label, options) => {
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const before = await rowCounts(t.db());
    const res = await post(inboundParams(PHONE, 'STOP'), options);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe(EMPTY);
    expect(await rowCounts(t.db())).toEqual(before);
    expect((await subscriber())?.status).toBe('active');
    expect(scheduler.cancelled).toEqual([]);
  });

  it('a body changed after signing → 403', async () => {
    const params = inboundParams(PHONE, 'hello');
    const { body, headers } = signedForm('/twilio/inbound', params);
    const res = await app.request('/twilio/inbound', {
      method: 'POST',
      body: body.replace('Body=hello', 'Body=STOP'),
      headers,
    });
    expect(res.status).toBe(403);
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 0, subscribers: 0 });
  });

  it('accepts parameters Twilio adds later, signed over with the rest', async () => {
    const res = await post(
      inboundParams(PHONE, 'hi', { BrandNewTwilioParam: 'x', AddOns: '{"status":"successful"}' }),
    );
    expect(res.status).toBe(200);
  });
});

/** C0 controls other than tab, LF and CR, and DEL. */
const hasControlCharacter = (text: string) =>
  [...text].some((ch) => {
    const code = ch.charCodeAt(0);
    return (code < 0x20 && ![0x09, 0x0a, 0x0d].includes(code)) || code === 0x7f;
  });

describe('control characters in signed fields', () => {
  it('a NUL after STOP is stripped at the boundary: still a STOP, stored without it', async () => {
    await seedSubscriber(t.db(), { phone: PHONE }, {});
    const res = await post(inboundParams(PHONE, 'STOP\u0000'));
    expect(res.status).toBe(200);
    expect((await subscriber())?.status).toBe('opted_out');
    expect(await t.db().selectFrom('inbound_messages').select(['body', 'classification']).execute()).toEqual([
      { body: 'STOP', classification: 'opt_out' },
    ]);
  });

  it.each([
    ['a NUL inside From', { From: `${PHONE}\u0000` }],
    ['a NUL inside To', { To: '+1415555\u00000100' }],
    ['control characters around the Body', { Body: '\u0001\u0007hello\u001b[31m\u007f' }],
  ])('%s never reaches Postgres as a 500', async (_label, override) => {
    const res = await post({ ...inboundParams(PHONE, 'hi'), ...override });
    expect([200, 400]).toContain(res.status);
    const rows = await t.db().selectFrom('inbound_messages').selectAll().execute();
    for (const row of rows) {
      expect(hasControlCharacter(`${row.body}${row.from_phone}${row.to_phone}`)).toBe(false);
    }
  });
});

describe('bad input → TwiML-safe 4xx, nothing written', () => {
  it.each([
    ['no From', { From: '' }],
    ['a From that is not E.164', { From: '2125550123' }],
    ['no MessageSid', { MessageSid: '' }],
    ['a malformed MessageSid', { MessageSid: 'SM-not-a-sid' }],
  ])('%s → 400', async (_label, override) => {
    const res = await post({ ...inboundParams(PHONE, 'STOP'), ...override });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await res.text()).toBe(EMPTY);
    expect(await rowCounts(t.db())).toMatchObject({ inbound_messages: 0, subscribers: 0 });
  });

  it('a malformed form body → 400', async () => {
    const res = await app.request('/twilio/inbound', {
      method: 'POST',
      body: 'Body=%E0%A4%A&From=%2B12125550123',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'x' },
    });
    expect(res.status).toBe(400);
  });

  it('JSON instead of a form → 415', async () => {
    const res = await app.request('/twilio/inbound', {
      method: 'POST',
      body: JSON.stringify(inboundParams(PHONE, 'STOP')),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(415);
    expect(await res.text()).toBe(EMPTY);
  });

  it('an oversize body → 413', async () => {
    const res = await post(inboundParams(PHONE, 'STOP', { Padding: 'x'.repeat(70_000) }));
    expect(res.status).toBe(413);
  });

  it('GET → 405 with Allow; an unknown Twilio path → 404', async () => {
    const get = await app.request('/twilio/inbound');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await get.text()).toBe(EMPTY);
    const unknown = await app.request('/twilio/nothing', { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe(EMPTY);
  });
});
