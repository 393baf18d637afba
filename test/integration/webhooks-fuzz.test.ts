// Property-based fuzzing of the webhooks app (fast-check) against a real Postgres: signed and unsigned
// requests with arbitrary fields, duplicate keys, percent-encodings (valid and not), control characters,
// any Unicode and sizes past the body limit. Invariants: never a 5xx; an unsigned (or badly signed) request
// writes nothing; a signed opt-out keyword in any case and padding opts the sender out.
// Bounded here (FUZZ_RUNS, default 120 per property); `npm run fuzz` runs the long version.
import fc from 'fast-check';
import type { Hono } from 'hono';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { STANDARD_KEYWORDS } from '../../src/domain/inbound-keywords.js';
import { parseForm } from '../../src/http/twilio.js';
import { useTestDb } from '../support/db.js';
import {
  AUTH_TOKEN,
  PUBLIC_BASE_URL,
  rowCounts,
  seedSubscriber,
  testApp,
} from '../support/webhook-doubles.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const t = useTestDb();
let app: Hono;

beforeEach(() => {
  app = testApp({ db: t.db() });
});

const figures = { cases: 0, fiveHundreds: 0, unsignedWrites: 0, statuses: new Map<number, number>() };
afterAll(() => {
  const statuses = [...figures.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
  // The closing note's fuzz figures come from this line.
  console.log(
    `[fuzz] ${figures.cases} requests, ${figures.fiveHundreds} answered 5xx, ` +
      `${figures.unsignedWrites} unsigned requests wrote rows; statuses ${statuses.join(' ')}`,
  );
});

function record(status: number) {
  figures.cases++;
  figures.statuses.set(status, (figures.statuses.get(status) ?? 0) + 1);
  if (status >= 500) figures.fiveHundreds++;
}

// ── Arbitraries ──────────────────────────────────────────────────────────────────────────────────────
const CONTROL = fc.constantFrom(
  '\u0000',
  '\u0001',
  '\u0007',
  '\b',
  '\t',
  '\n',
  '\u000b',
  '\r',
  '\u001b',
  '\u007f',
);
/** Any text: full Unicode (lone surrogates included), control characters, emoji, Twilio-looking values. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.oneof(fc.constantFrom('a', 'Z', '0', ' ', '+', '%', '&', '=', '😀', 'é'), CONTROL) }),
  fc.constantFrom(
    '',
    '+12125550123',
    `SM${'ab'.repeat(16)}`,
    'STOP',
    'delivered',
    '21610',
    '30003',
    'x'.repeat(1700),
  ),
);
const TWILIO_NAMES = [
  'MessageSid',
  'From',
  'To',
  'Body',
  'OptOutType',
  'MessageStatus',
  'SmsStatus',
  'ErrorCode',
];
const fieldName = fc.oneof(fc.constantFrom(...TWILIO_NAMES), fc.string({ unit: 'binary', maxLength: 12 }));
/** Name/value pairs; the same name may appear more than once. */
const randomPairs = fc.array(fc.tuple(fieldName, anyText), { maxLength: 12 });
/** Fields that pass validation (so the request reaches Postgres), with arbitrary text around them. */
const plausiblePairs = fc
  .tuple(
    fc.integer({ min: 0, max: 2 ** 31 }),
    fc.constantFrom('+12125550123', '+12125550124', '+447700900123', '+12125550123\u0000'),
    fc.constantFrom('delivered', 'sent', 'failed', 'undelivered', 'read', 'some_new_status'),
    fc.constantFrom('', '21610', '30003', '0'),
    randomPairs,
  )
  .map(([n, from, status, errorCode, extra]): [string, string][] => [
    ['MessageSid', `SM${n.toString(16).padStart(32, '0')}`],
    ['From', from],
    ['To', from],
    ['MessageStatus', status],
    ['ErrorCode', errorCode],
    ...extra.filter(([name]) => name !== 'MessageSid' && name !== 'From'),
  ]);
const pairs = fc.oneof(randomPairs, plausiblePairs);

/** A body as Twilio would encode it, or raw text with stray and broken percent-escapes. */
const encodedBody = (fields: [string, string][]) =>
  fc.oneof(
    fc.constant(fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
    fc.constant(new URLSearchParams(fields).toString()),
    fc.constant(fields.map(([k, v]) => `${k}=${v}`).join('&')),
    fc.constant(`${fields.map(([k, v]) => `${k}=${v}`).join('&')}&%E0%A4%A&%`),
  );
const path = fc.constantFrom('/twilio/inbound', '/twilio/status');
const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'text/plain',
  'application/json',
);
/** Now and then a body past the 64 KiB limit. */
const padding = fc.oneof(fc.constant(''), fc.constant(''), fc.constant(`&Pad=${'x'.repeat(70_000)}`));

/** Signs over exactly the parameters the server will parse from `body` (duplicates included). */
function signatureFor(route: string, body: string): string | null {
  const params = parseForm(body);
  return params ? getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC_BASE_URL}${route}`, params) : null;
}

async function send(route: string, body: string, headers: Record<string, string>) {
  const res = await app.request(route, { method: 'POST', body, headers });
  await res.arrayBuffer();
  record(res.status);
  return res;
}

describe('fuzzing the webhooks app', () => {
  it(`never answers 5xx to signed requests with arbitrary fields (${RUNS} runs)`, {
    timeout: 600_000,
  }, async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' }, {});
    await fc.assert(
      fc.asyncProperty(
        path,
        pairs.chain((fields) => encodedBody(fields)),
        contentType,
        padding,
        async (route, body, type, pad) => {
          const full = body + pad;
          const signature = signatureFor(route, full);
          const headers: Record<string, string> = { 'content-type': type };
          if (signature) headers['x-twilio-signature'] = signature;
          const res = await send(route, full, headers);
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`signed requests with valid ids and arbitrary other fields reach Postgres: never 5xx (${RUNS} runs)`, {
    timeout: 600_000,
  }, async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' }, {});
    let reached = 0;
    await fc.assert(
      fc.asyncProperty(path, plausiblePairs, async (route, fields) => {
        const body = new URLSearchParams(fields).toString();
        const res = await send(route, body, {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signatureFor(route, body) as string,
        });
        // 429 is decided inside the SQL statement too: it reached Postgres.
        if (res.status < 300 || res.status === 429) reached++;
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
    // Most of them must get past validation, or this property tests nothing.
    expect(reached).toBeGreaterThan(RUNS / 2);
  });

  it(`an unsigned or badly signed request never writes a row (${RUNS} runs)`, {
    timeout: 600_000,
  }, async () => {
    await seedSubscriber(t.db(), { phone: '+12125550123' }, {});
    const badSignature = fc.oneof(
      fc.constant(null),
      fc.constant(''),
      // Printable only: a header cannot carry control characters (clients refuse to send them).
      fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
      fc.base64String({ minLength: 28, maxLength: 28 }),
    );
    await fc.assert(
      fc.asyncProperty(
        path,
        pairs.chain((fields) => encodedBody(fields)),
        contentType,
        badSignature,
        async (route, body, type, signature) => {
          const headers: Record<string, string> = { 'content-type': type };
          if (signature !== null) headers['x-twilio-signature'] = signature;
          const before = await rowCounts(t.db());
          const res = await send(route, body, headers);
          const after = await rowCounts(t.db());
          if (JSON.stringify(after) !== JSON.stringify(before)) figures.unsignedWrites++;
          expect(res.status).toBeLessThan(500);
          expect([400, 403, 413, 415]).toContain(res.status);
          expect(after).toEqual(before);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`a signed opt-out keyword in any case and padding opts the sender out (${RUNS} runs)`, {
    timeout: 600_000,
  }, async () => {
    const pad = fc.string({
      unit: fc.oneof(fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0'), CONTROL),
      maxLength: 6,
    });
    const anyCase = (word: string) =>
      fc
        .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
        .map((upper) => [...word].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch.toLowerCase())).join(''));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...STANDARD_KEYWORDS.opt_out).chain(anyCase),
        pad,
        pad,
        fc.constantFrom('', '!', '.'),
        async (keyword, before, after, punctuation) => {
          n++;
          const phone = `+1917${String(n).padStart(7, '0')}`;
          await seedSubscriber(t.db(), { phone });
          const sid = `SM${n.toString(16).padStart(32, '0')}`;
          const body = new URLSearchParams({
            MessageSid: sid,
            From: phone,
            To: '+14155550100',
            Body: `${before}${keyword}${punctuation}${after}`,
          }).toString();
          const res = await send('/twilio/inbound', body, {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': signatureFor('/twilio/inbound', body) as string,
          });
          expect(res.status).toBe(200);
          const row = await t
            .db()
            .selectFrom('subscribers')
            .select('status')
            .where('phone', '=', phone)
            .executeTakeFirst();
          expect(row?.status).toBe('opted_out');
        },
      ),
      { numRuns: RUNS },
    );
  });
});
