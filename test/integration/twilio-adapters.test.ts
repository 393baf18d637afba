// The Twilio adapters over fetch, against msw: what goes over the wire (auth, form fields, query) and how
// each kind of failure is answered. send-daily-message.test.ts and reconcile.test.ts cover the main paths
// end to end; these cover the rest (messaging service, network errors, timeouts, non-JSON bodies, 429s).
import { delay, HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwilioApiError, twilioDate, twilioDateTime } from '../../src/adapters/twilio-api.js';
import { createTwilioSms } from '../../src/adapters/twilio-sms.js';
import { TwilioStatusLookup } from '../../src/adapters/twilio-status-lookup.js';
import { TWILIO_CALLS } from '../../src/domain/call-budgets.js';
import type { E164 } from '../../src/domain/phone.js';
import { SmsError, SmsOutcomeUnknown } from '../../src/services/ports.js';
import {
  fixedClock,
  TWILIO_ACCOUNT_SID,
  TWILIO_AUTH_TOKEN,
  TWILIO_URL,
  twilioCreated,
  twilioError,
  twilioHandler,
} from '../support/sender-doubles.js';

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const TO = '+14155550123' as E164;
const MESSAGE = { to: TO, body: 'You matter.', statusCallback: 'https://sms.example.com/twilio/status' };
const BASIC = `Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`;

function sms(overrides: Partial<Parameters<typeof createTwilioSms>[0]> = {}) {
  const waits: number[] = [];
  const sender = createTwilioSms({
    credentials: { accountSid: TWILIO_ACCOUNT_SID, authToken: TWILIO_AUTH_TOKEN },
    sender: { from: '+14155550100' },
    clock: fixedClock('2026-11-25T18:00:00Z'),
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  return { sender, waits };
}

describe('createTwilioSms', () => {
  it('sends through a messaging service with Basic auth, a form body and no ValidityPeriod without expiry', async () => {
    const headers: Headers[] = [];
    const seen: URLSearchParams[] = [];
    server.use(
      http.post(TWILIO_URL, async ({ request }) => {
        headers.push(request.headers);
        const form = new URLSearchParams(await request.text());
        seen.push(form);
        return twilioCreated(form, '2');
      }),
    );
    const { sender } = sms({ sender: { messagingServiceSid: `MG${'c'.repeat(32)}` } });

    const receipt = await sender.send(MESSAGE);

    expect(receipt).toMatchObject({ status: 'queued', segments: 2 });
    expect(receipt.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(headers[0]?.get('authorization')).toBe(BASIC);
    expect(headers[0]?.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(seen[0] ?? [])).toEqual({
      To: TO,
      Body: 'You matter.',
      StatusCallback: 'https://sms.example.com/twilio/status',
      MessagingServiceSid: `MG${'c'.repeat(32)}`,
    });
  });

  it('clamps ValidityPeriod to Twilio’s 36000 s', async () => {
    const seen: URLSearchParams[] = [];
    server.use(twilioHandler(seen));
    await sms().sender.send({ ...MESSAGE, validUntil: new Date('2026-11-27T00:00:00Z') });
    expect(seen[0]?.get('ValidityPeriod')).toBe('36000');
  });

  it('retries a connection refused before anything was sent', async () => {
    const seen: URLSearchParams[] = [];
    server.use(twilioHandler(seen));
    let calls = 0;
    const flaky: typeof fetch = (input, init) => {
      calls += 1;
      if (calls === 1)
        return Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }));
      return fetch(input, init);
    };
    const { sender, waits } = sms({ fetch: flaky });

    await expect(sender.send(MESSAGE)).resolves.toMatchObject({ status: 'queued' });
    expect(calls).toBe(2);
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([250]);
  });

  it('a request that outlives its timeout is outcome-unknown and never retried', async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      http.post(TWILIO_URL, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        seen.push(form);
        await delay(500);
        return twilioCreated(form); // a success, had the client waited for it
      }),
    );
    const error = await sms({ requestTimeoutMs: 50 })
      .sender.send(MESSAGE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmsOutcomeUnknown);
    expect(seen).toHaveLength(1);
  });

  it('a refusal without a JSON body keeps the status in its message and has no code', async () => {
    server.use(http.post(TWILIO_URL, () => new HttpResponse('<html>Bad Request</html>', { status: 400 })));
    const error = await sms()
      .sender.send(MESSAGE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmsError);
    expect(error).toMatchObject({
      message: '[HTTP 400] Failed to execute request',
      code: null,
      retryable: false,
    });
  });

  it('gives up retryable refusals after maxRetries with a retryable SmsError', async () => {
    const seen: URLSearchParams[] = [];
    server.use(twilioHandler(seen, [() => twilioError(503, 20503, 'Service unavailable')]));
    const error = await sms({ maxRetries: 2 })
      .sender.send(MESSAGE)
      .catch((e: unknown) => e);
    expect(seen).toHaveLength(3);
    expect(error).toMatchObject({ name: 'SmsError', code: 20503, retryable: true });
  });

  // Twilio error 20500: "sending an SMS … If you get a 500 Server Error on these requests, and you retry
  // the request, it is possible for a customer to receive multiple messages". A gateway's 502/504 says no more.
  it.each([
    [500, 20500],
    [502, null],
    [503, null],
    [504, null],
  ])(
    'an HTTP %i (Twilio code %s) after Twilio may have queued the message is outcome-unknown, never retried',
    async (status, code) => {
      const seen: URLSearchParams[] = [];
      server.use(
        twilioHandler(seen, [
          () =>
            code === null
              ? new HttpResponse('<html>Bad Gateway</html>', { status })
              : twilioError(status, code, 'Internal Server Error'),
          (form) => twilioCreated(form),
        ]),
      );
      const error = await sms()
        .sender.send(MESSAGE)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SmsOutcomeUnknown);
      expect(seen).toHaveLength(1);
    },
  );

  it('waits as long as a 429’s Retry-After asks when the retry window has room, then sends', async () => {
    const seen: URLSearchParams[] = [];
    const rateLimited = () =>
      HttpResponse.json(
        { code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429' },
        { status: 429, headers: { 'Retry-After': '5' } },
      );
    server.use(twilioHandler(seen, [rateLimited, (form) => twilioCreated(form)]));
    const { sender, waits } = sms();

    await expect(sender.send(MESSAGE)).resolves.toMatchObject({ status: 'queued' });
    expect(waits).toEqual([5_000]);
    expect(seen).toHaveLength(2);
  });

  it('stops at once, retryable, when a 429’s Retry-After is past the retry window', async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      twilioHandler(seen, [
        () =>
          HttpResponse.json(
            { code: 20429, message: 'Too Many Requests' },
            { status: 429, headers: { 'Retry-After': '30' } },
          ),
      ]),
    );
    const { sender, waits } = sms();
    const error = await sender.send(MESSAGE).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'SmsError', code: 20429, retryable: true });
    expect(waits).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('a 2xx answer without a message SID is outcome-unknown', async () => {
    server.use(http.post(TWILIO_URL, () => HttpResponse.json({ status: 'queued' }, { status: 201 })));
    await expect(sms().sender.send(MESSAGE)).rejects.toBeInstanceOf(SmsOutcomeUnknown);
  });
});

describe('TwilioStatusLookup', () => {
  const BASE = `https://api.twilio.com/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}`;
  const SID = `SM${'e'.repeat(32)}`;
  const message = {
    sid: SID,
    status: 'delivered',
    to: TO,
    direction: 'outbound-api',
    body: 'You matter.',
    error_code: null,
    num_segments: '1',
    date_created: 'Tue, 24 Nov 2026 17:00:01 +0000',
    date_sent: 'Tue, 24 Nov 2026 17:00:02 +0000',
  };

  function lookup() {
    const waits: number[] = [];
    const l = new TwilioStatusLookup(
      { accountSid: TWILIO_ACCOUNT_SID, authToken: TWILIO_AUTH_TOKEN },
      { random: () => 0.5, sleep: async (ms) => void waits.push(ms) },
    );
    return { l, waits };
  }

  it('backs off on 429 and then reads the message', async () => {
    let calls = 0;
    server.use(
      http.get(`${BASE}/Messages/:sid.json`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json({ code: 20429, message: 'Too Many Requests', status: 429 }, { status: 429 })
          : HttpResponse.json(message);
      }),
    );
    const { l, waits } = lookup();

    expect(await l.fetchStatus(SID)).toEqual({
      sid: SID,
      status: 'delivered',
      errorCode: null,
      to: TO,
      direction: 'outbound-api',
      dateCreated: new Date('2026-11-24T17:00:01Z'),
      dateSent: new Date('2026-11-24T17:00:02Z'),
      body: 'You matter.',
      segments: 1,
    });
    expect(calls).toBe(2);
    expect(waits).toEqual([50]);
  });

  it('stops retrying 429s after maxRetries and throws Twilio’s error', async () => {
    let calls = 0;
    server.use(
      http.get(`${BASE}/Messages/:sid.json`, () => {
        calls += 1;
        return HttpResponse.json({ code: 20429, message: 'Too Many Requests' }, { status: 429 });
      }),
    );
    const error = await lookup()
      .l.fetchStatus(SID)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TwilioApiError);
    expect(error).toMatchObject({ status: 429, code: 20429 });
    // Reconciliation's retries (src/domain/call-budgets.ts): a read in flight at its deadline ends in time.
    expect(calls).toBe(TWILIO_CALLS.reconcileRead.maxRetries + 1);
  });

  it('waits as long as a 429’s Retry-After asks, then reads the message', async () => {
    let calls = 0;
    server.use(
      http.get(`${BASE}/Messages/:sid.json`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json(
              { code: 20429, message: 'Too Many Requests', status: 429 },
              { status: 429, headers: { 'Retry-After': '2' } },
            )
          : HttpResponse.json(message);
      }),
    );
    const { l, waits } = lookup();

    expect(await l.fetchStatus(SID)).toMatchObject({ sid: SID, status: 'delivered' });
    expect(waits).toEqual([2_000]);
  });

  it('throws Twilio’s 429 without waiting when its Retry-After is longer than a lookup may wait', async () => {
    let calls = 0;
    server.use(
      http.get(`${BASE}/Messages/:sid.json`, () => {
        calls += 1;
        return HttpResponse.json(
          { code: 20429, message: 'Too Many Requests', status: 429 },
          { status: 429, headers: { 'Retry-After': '600' } },
        );
      }),
    );
    const { l, waits } = lookup();
    const error = await l.fetchStatus(SID).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, code: 20429 });
    expect(waits).toEqual([]);
    expect(calls).toBe(1);
  });

  it('lists one page of 20 sent to the number in the window', async () => {
    const urls: URL[] = [];
    server.use(
      http.get(`${BASE}/Messages.json`, ({ request }) => {
        urls.push(new URL(request.url));
        return HttpResponse.json({ messages: [message], next_page_uri: null });
      }),
    );
    const found = await lookup().l.findSentTo(
      TO,
      new Date('2026-11-24T16:55:00.250Z'),
      new Date('2026-11-24T19:00:00Z'),
    );
    expect(found.map((m) => m.sid)).toEqual([SID]);
    expect(Object.fromEntries(urls[0]?.searchParams ?? [])).toEqual({
      To: TO,
      'DateSent>': '2026-11-24T16:55:00Z',
      'DateSent<': '2026-11-24T19:00:00Z',
      PageSize: '20',
    });
  });
});

describe('Twilio date formats', () => {
  it.each([
    ['Tue, 24 Nov 2026 17:00:02 +0000', '2026-11-24T17:00:02.000Z'],
    [null, null],
    ['not a date', null],
  ])('reads %j as %s', (raw, iso) => expect(twilioDate(raw)?.toISOString() ?? null).toBe(iso));

  it('writes filters in UTC seconds', () =>
    expect(twilioDateTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05Z'));
});
