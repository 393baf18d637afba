// The Twilio adapters held to Twilio's published OpenAPI description (test/support/twilio-contract.ts):
// every request they make is validated by openapi-backend against twilio_api_v2010.json, and every answer
// they parse is generated from that file's schemas and documented examples (nulls, absences, enum values),
// with error bodies from the error schema Twilio publishes in the same package.

import { HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwilioApiError } from '../../src/adapters/twilio-api.js';
import { createTwilioSms, type TwilioSender } from '../../src/adapters/twilio-sms.js';
import { TwilioStatusLookup } from '../../src/adapters/twilio-status-lookup.js';
import type { E164 } from '../../src/domain/phone.js';
import { type ProviderMessage, SmsError, SmsOutcomeUnknown } from '../../src/services/ports.js';
import { fixedClock, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN } from '../support/sender-doubles.js';
import {
  createTwilioContract,
  type Json,
  objectVariants,
  TWILIO_SPEC_SOURCE,
  type TwilioContract,
  twilioErrorSchema,
} from '../support/twilio-contract.js';

const contract: TwilioContract = await createTwilioContract();
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  contract.violations.length = 0;
});
afterAll(() => server.close());

const TO = '+14155550123' as E164;
const SID = `SM${'e'.repeat(32)}`;
const MESSAGE = { to: TO, body: 'You matter.', statusCallback: 'https://sms.example.com/twilio/status' };
const credentials = { accountSid: TWILIO_ACCOUNT_SID, authToken: TWILIO_AUTH_TOKEN };

function sender(from: TwilioSender) {
  return createTwilioSms({
    credentials,
    sender: from,
    clock: fixedClock('2026-11-25T18:00:00Z'),
    random: () => 0.5,
    sleep: async () => {},
    maxRetries: 0,
  });
}
const lookup = () => new TwilioStatusLookup(credentials, { sleep: async () => {}, maxRetries: 0 });

/** Answers every request with the spec's first documented example of the matched operation. */
function documentedAnswers(seen: string[]) {
  return contract.handler((operationId) => {
    seen.push(operationId);
    const example = Object.values(contract.examples(operationId))[0];
    return HttpResponse.json(example as Json, { status: operationId === 'CreateMessage' ? 201 : 200 });
  });
}

describe(`requests the adapters make, validated against ${TWILIO_SPEC_SOURCE}`, () => {
  it.each([
    {
      name: 'send from a number',
      operationId: 'CreateMessage',
      act: () => sender({ from: '+14155550100' }).send(MESSAGE),
    },
    {
      name: 'send through a messaging service',
      operationId: 'CreateMessage',
      act: () => sender({ messagingServiceSid: `MG${'c'.repeat(32)}` }).send(MESSAGE),
    },
    {
      name: 'send with a validity period',
      operationId: 'CreateMessage',
      act: () =>
        sender({ from: '+14155550100' }).send({ ...MESSAGE, validUntil: new Date('2026-11-25T22:00:00Z') }),
    },
    {
      name: 'fetch one message (reconciliation)',
      operationId: 'FetchMessage',
      act: () => lookup().fetchStatus(SID),
    },
    {
      name: 'list messages sent to a number (reconciliation)',
      operationId: 'ListMessage',
      act: () =>
        lookup().findSentTo(TO, new Date('2026-11-24T16:55:00.250Z'), new Date('2026-11-24T19:00:00Z')),
    },
  ])('$name is the $operationId request the spec describes', async ({ act, operationId }) => {
    const seen: string[] = [];
    server.use(documentedAnswers(seen));

    const outcome = await act().then(
      () => 'answered',
      (error: unknown) => error,
    );

    expect(contract.violations).toEqual([]);
    expect(outcome).toBe('answered');
    expect(seen).toEqual([operationId]);
  });

  // The oracle itself must be able to fail, or the tests above prove nothing.
  it.each([
    ['a misspelled form parameter', 'POST', '/Messages.json', 'To=%2B14155550123&Bdy=hi', /Bdy/],
    ['a missing required parameter', 'POST', '/Messages.json', 'Body=hi', /must have required property 'To'/],
    [
      'a non-integer ValidityPeriod',
      'POST',
      '/Messages.json',
      'To=%2B14155550123&ValidityPeriod=1h',
      /integer/,
    ],
    [
      'a misspelled query filter',
      'GET',
      '/Messages.json?DateSend%3E=2026-11-24T16%3A55%3A00Z',
      '',
      /DateSend>/,
    ],
    ['an unknown path', 'GET', '/Message/SMx.json', '', /no operation/],
    ['a method the path does not have', 'PUT', '/Messages.json', 'To=%2B14155550123', /no operation/],
  ])('the contract rejects %s', async (_name, method, path, body, problem) => {
    const auth = `Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`;
    const request = new Request(`https://api.twilio.com/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: method === 'GET' ? undefined : body,
    });
    const { problems } = await contract.check(request);
    expect(problems.join('\n')).toMatch(problem);
  });

  it('the contract rejects a request without the Basic credentials the spec names', async () => {
    const request = new Request(
      `https://api.twilio.com/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages/${SID}.json`,
      { headers: { authorization: 'Bearer abc' } },
    );
    expect((await contract.check(request)).problems).toEqual([
      'accountSid_authToken: expected HTTP Basic credentials',
    ]);
  });
});

// ── Answers ──────────────────────────────────────────────────────────────────────────────────────────
type MessageJson = Record<string, Json>;

/** Every legal Message resource the spec documents or allows, named, each proven valid against the schema. */
function messageVariants(operationId: 'CreateMessage' | 'FetchMessage'): [string, MessageJson][] {
  const schema = contract.responseSchema(operationId);
  const out: [string, MessageJson][] = [];
  for (const [exampleName, example] of Object.entries(contract.examples(operationId))) {
    for (const v of objectVariants(contract.document, schema, example as MessageJson))
      out.push([`${exampleName} / ${v.name}`, v.body]);
  }
  return out;
}

const segmentsOf = (m: MessageJson) => {
  const n = Number.parseInt(String(m.num_segments ?? ''), 10);
  return Number.isInteger(n) && n > 0 ? n : null;
};
const dateOf = (v: Json | undefined) => (typeof v === 'string' ? new Date(Date.parse(v)) : null);

/** What reconciliation should read from a Message resource. */
function providerMessage(m: MessageJson, sid: string): ProviderMessage {
  return {
    sid,
    status: m.status as string,
    errorCode: (m.error_code as number | null | undefined) ?? null,
    to: (m.to as string | null | undefined) ?? null,
    direction: (m.direction as string | null | undefined) ?? null,
    dateCreated: dateOf(m.date_created),
    dateSent: dateOf(m.date_sent),
    body: (m.body as string | null | undefined) ?? null,
    segments: segmentsOf(m),
  };
}

describe('answers generated from the spec’s Message schema', () => {
  const created = messageVariants('CreateMessage');
  const fetched = messageVariants('FetchMessage');

  it('generates only legal answers, and enough of them', () => {
    expect(created.length).toBeGreaterThan(100);
    for (const [name, body] of [...created, ...fetched])
      expect({ name, problems: contract.responseProblems('FetchMessage', body) }).toEqual({
        name,
        problems: [],
      });
  });

  it.each(created)('send reads the created message: %s', async (_name, body) => {
    server.use(contract.handler(() => HttpResponse.json(body, { status: 201 })));

    const result = await sender({ from: '+14155550100' })
      .send(MESSAGE)
      .catch((e: unknown) => e);

    expect(contract.violations).toEqual([]);
    if (typeof body.sid !== 'string') {
      // Accepted, but nothing to track it by: never resent, left to reconciliation.
      expect(result).toBeInstanceOf(SmsOutcomeUnknown);
      return;
    }
    expect(result).toEqual({
      sid: body.sid,
      // A 2xx without a status: Twilio accepted it; callbacks move it on from there.
      status: typeof body.status === 'string' ? body.status : 'accepted',
      segments: segmentsOf(body),
    });
  });

  it.each(fetched)('reconciliation reads a fetched message: %s', async (_name, body) => {
    server.use(contract.handler(() => HttpResponse.json(body)));

    const result = await lookup()
      .fetchStatus(SID)
      .catch((e: unknown) => e);

    expect(contract.violations).toEqual([]);
    if (typeof body.status !== 'string') {
      expect(result).toBeInstanceOf(Error);
      expect(String(result)).toMatch(/status/);
      return;
    }
    expect(result).toEqual(providerMessage(body, typeof body.sid === 'string' ? body.sid : SID));
  });

  it('reconciliation reads a list page holding every variant, skipping messages it cannot track', async () => {
    const messages = fetched.map(([, body]) => body);
    const page = { ...(Object.values(contract.examples('ListMessage'))[0] as MessageJson), messages };
    expect(contract.responseProblems('ListMessage', page)).toEqual([]);
    server.use(contract.handler(() => HttpResponse.json(page)));

    const found = await lookup().findSentTo(
      TO,
      new Date('2026-11-24T16:55:00Z'),
      new Date('2026-11-24T19:00:00Z'),
    );

    expect(contract.violations).toEqual([]);
    const trackable = messages.filter((m) => typeof m.sid === 'string' && typeof m.status === 'string');
    expect(found).toEqual(trackable.map((m) => providerMessage(m, m.sid as string)));
  });
});

describe('error bodies from Twilio’s published error schema', () => {
  const schema = twilioErrorSchema();
  const full = {
    code: 21610,
    message: 'Attempt to send to unsubscribed recipient',
    more_info: 'https://www.twilio.com/docs/errors/21610',
    status: 400,
  };
  const variants = objectVariants(contract.document, schema, full);

  it('covers each documented field absent', () =>
    expect(variants.map((v) => v.name)).toEqual([
      'as documented',
      'code absent',
      'message absent',
      'more_info absent',
      'status absent',
    ]));

  it.each(variants.map((v) => [v.name, v.body] as const))('send maps a refusal: %s', async (_name, body) => {
    server.use(contract.handler(() => HttpResponse.json(body, { status: 400 })));

    const error = await sender({ from: '+14155550100' })
      .send(MESSAGE)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SmsError);
    expect(error).toMatchObject({
      code: body.code ?? null,
      message: body.message ?? '[HTTP 400] Failed to execute request',
      retryable: false,
    });
  });

  it.each(variants.map((v) => [v.name, v.body] as const))(
    'lookup maps a refusal: %s',
    async (_name, body) => {
      server.use(contract.handler(() => HttpResponse.json(body, { status: 404 })));
      // 404 is Twilio's "no such message": null whatever the body says.
      await expect(lookup().fetchStatus(SID)).resolves.toBeNull();
      server.use(contract.handler(() => HttpResponse.json(body, { status: 401 })));
      const error = await lookup()
        .fetchStatus(SID)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TwilioApiError);
      expect(error).toMatchObject({ status: 401, code: body.code ?? null, moreInfo: body.more_info ?? null });
    },
  );
});
