// The CLI's client of a deployed API: what each kind of answer becomes (API Gateway's own, ours, not an API
// at all, no answer), and how a test send waits for the sender. The answers the local server gives are
// covered end to end in test/e2e/operator-cli.test.ts; these are the ones only a deployment or a wrong URL
// gives.
import { describe, expect, it } from 'vitest';
import { remoteOperations } from '../../src/adapters/operations-api.js';
import type { E164 } from '../../src/domain/phone.js';
import { OperationError } from '../../src/services/operations.js';

const BASE = 'https://abc123.execute-api.us-east-1.amazonaws.com';
const PHONE = '+12125550123' as E164;

type Answer = { status: number; body?: unknown; text?: string; headers?: Record<string, string> };

/** A fetch that answers each request with the next scripted answer (or throws it), recording requests. */
function scripted(...answers: (Answer | Error)[]) {
  const requests: { method: string; url: string; headers: Record<string, string> }[] = [];
  const fetch = (async (url: URL, init: RequestInit) => {
    requests.push({
      method: String(init.method),
      url: url.toString(),
      headers: init.headers as Record<string, string>,
    });
    const next = answers.shift();
    if (!next) throw new Error('no more scripted answers');
    if (next instanceof Error) throw next;
    const text = next.text ?? (next.body === undefined ? '' : JSON.stringify(next.body));
    return new Response(text, { status: next.status, headers: next.headers });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, requests };
}

async function failure(promise: Promise<unknown>): Promise<OperationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OperationError);
  return error as OperationError;
}

const client = (
  fetch: typeof globalThis.fetch,
  extra: Partial<Parameters<typeof remoteOperations>[0]> = {},
) => remoteOperations({ baseUrl: `${BASE}/`, token: 'token-0123456789abcdefghijkl', fetch, ...extra });

const delivery = (state: string) => ({
  id: '6f1d2c3b-4a59-4e8f-9a7b-0c1d2e3f4a5b',
  phone: PHONE,
  localDate: '2026-11-24',
  timeZone: 'America/New_York',
  state,
  reason: null,
  plannedAt: '2026-11-24T18:30:00.000Z',
  sentAt: state === 'sent' ? '2026-11-24T18:30:03.000Z' : null,
  deliveryStatus: state === 'sent' ? 'queued' : null,
  messageSid: state === 'sent' ? `SM${'a'.repeat(32)}` : null,
  errorCode: null,
  fallback: state === 'sent' ? false : null,
  costUsd: null,
  replacementReasons: null,
});
const started = {
  deliveryId: delivery('planned').id,
  localDate: '2026-11-24',
  demoWindow: false,
  delivery: delivery('planned'),
};

describe('what an answer becomes', () => {
  it('sends the bearer token and the URL-encoded phone to the base URL without its trailing slash', async () => {
    const { fetch, requests } = scripted({
      status: 404,
      body: { error: 'no subscriber has this phone number', code: 'not_found' },
    });
    const error = await failure(client(fetch).showSubscriber(PHONE, { bodies: true }));
    expect(error).toMatchObject({ code: 'not_found', message: 'no subscriber has this phone number' });
    expect(requests).toEqual([
      {
        method: 'GET',
        url: `${BASE}/api/subscribers/%2B12125550123?bodies=true`,
        headers: expect.objectContaining({ authorization: 'Bearer token-0123456789abcdefghijkl' }),
      },
    ]);
  });

  it.each<[string, string, Answer | Error, RegExp]>([
    [
      'our 401',
      'unauthorized',
      { status: 401, body: { error: 'invalid API token', code: 'unauthorized' } },
      /^invalid API token \(check POSITIVITY_API_TOKEN\)$/,
    ],
    [
      'our 400',
      'bad_input',
      { status: 400, body: { error: 'day: must be a calendar date', code: 'bad_input' } },
      /^day: must be a calendar date$/,
    ],
    [
      'our 429',
      'rate_limited',
      { status: 429, body: { error: 'too many requests; retry after 13 s', code: 'rate_limited' } },
      /^too many requests; retry after 13 s$/,
    ],
    [
      'our 405 (a method this version of the API does not have)',
      'unreachable',
      { status: 405, body: { error: 'DELETE is not allowed here; use GET', code: 'no_route' } },
      /has no GET \/api\/usage \(HTTP 405\)/,
    ],
    [
      'a code this CLI does not know (a newer API): by status',
      'conflict',
      { status: 409, body: { error: 'something new', code: 'brand_new' } },
      /^something new$/,
    ],
    [
      "API Gateway's 404 (a route it does not have)",
      'unreachable',
      { status: 404, body: { message: 'Not Found' } },
      /has no GET \/api\/usage \(HTTP 404\): use the stack's PublicBaseUrl/,
    ],
    [
      "our app's 404 for an unknown route",
      'unreachable',
      { status: 404, body: { error: 'no route for GET /api/usage', code: 'no_route' } },
      /has no GET \/api\/usage/,
    ],
    [
      "an older app's 404 for an unknown route (no code)",
      'unreachable',
      { status: 404, body: { error: 'no route for GET /api/usage' } },
      /has no GET \/api\/usage/,
    ],
    [
      "API Gateway's 429 throttle",
      'rate_limited',
      { status: 429, body: { message: 'Too Many Requests' }, headers: { 'retry-after': '2' } },
      /too many requests; retry after 2 s/,
    ],
    [
      'our 503',
      'unavailable',
      { status: 503, body: { error: 'the database is unavailable; try again shortly', code: 'unavailable' } },
      /database is unavailable/,
    ],
    [
      "API Gateway's 504 (Lambda timed out)",
      'unavailable',
      { status: 504, body: { message: 'Service Unavailable' } },
      /HTTP 504/,
    ],
    [
      'a web page at that URL',
      'failed',
      { status: 200, text: '<html>hello</html>', headers: { 'content-type': 'text/html' } },
      /does not understand .*is it the Daily Positivity API/,
    ],
    [
      'JSON of another shape',
      'failed',
      { status: 200, body: { day: 'today' } },
      /does not understand \(day: /,
    ],
    [
      'nothing listening',
      'unreachable',
      new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }),
      /^cannot reach https:\/\/abc123\.execute-api\.us-east-1\.amazonaws\.com \(ECONNREFUSED\)$/,
    ],
    [
      'no answer in time',
      'unreachable',
      new DOMException('timed out', 'TimeoutError'),
      /\(no answer in time\)$/,
    ],
  ])('%s → %s', async (_label, code, answer, message) => {
    const error = await failure(client(scripted(answer).fetch).usage());
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it('refuses --stage and --set against a deployed API before asking it anything', async () => {
    const { fetch, requests } = scripted();
    const error = await failure(client(fetch).capacity({ subscribers: 10, stage: 'prod' }));
    expect(error.code).toBe('bad_input');
    expect(error.message).toMatch(/deployed stage's settings/);
    expect(requests).toEqual([]);
  });
});

describe('a test send', () => {
  /** A clock the fake sleep moves. */
  function time() {
    let now = 0;
    const slept: number[] = [];
    return {
      now: () => now,
      sleep: async (ms: number) => {
        slept.push(ms);
        now += ms;
      },
      slept,
    };
  }

  it('polls the delivery until the sender has finished, waiting out a 429 on the way', async () => {
    const clock = time();
    const { fetch, requests } = scripted(
      { status: 202, body: started },
      { status: 200, body: delivery('sending') },
      { status: 429, body: { error: 'too many requests; retry after 3 s' }, headers: { 'retry-after': '3' } },
      { status: 200, body: delivery('sent') },
    );
    const view = await client(fetch, clock).sendNow(PHONE, { waitMs: 60_000 });
    expect(view).toMatchObject({ deliveryId: started.deliveryId, delivery: { state: 'sent' } });
    expect(requests.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      'POST /api/subscribers/%2B12125550123/send-now',
      `GET /api/deliveries/${started.deliveryId}`,
      `GET /api/deliveries/${started.deliveryId}`,
      `GET /api/deliveries/${started.deliveryId}`,
    ]);
    expect(clock.slept).toEqual([500, 1000, 1500]);
  });

  it("says it has not finished (code 'unfinished') when the wait runs out", async () => {
    const clock = time();
    const answers = [
      { status: 202, body: started },
      ...Array.from({ length: 20 }, () => ({ status: 200, body: delivery('sending') })),
    ];
    const error = await failure(client(scripted(...answers).fetch, clock).sendNow(PHONE, { waitMs: 10_000 }));
    expect(error.code).toBe('unfinished');
    expect(error.message).toMatch(/has not finished within 10 s \(delivery .* is sending\)/);
    expect(clock.now()).toBeLessThanOrEqual(10_000);
  });

  it('passes a refusal through with its code', async () => {
    const { fetch } = scripted({
      status: 409,
      body: {
        error: "today's delivery (2026-11-24) is already sent; one message per subscriber per day",
        code: 'refused',
      },
    });
    expect(await failure(client(fetch).sendNow(PHONE, { waitMs: 1000 }))).toMatchObject({ code: 'refused' });
  });
});
