// The sender Lambda's edge: event validation without retry storms, not_found, and its wiring.
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixedCredentials } from '../../src/adapters/credentials.js';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { loadLambdaConfig } from '../../src/adapters/secrets.js';
import { loadConfig } from '../../src/config.js';
import { createSenderHandler } from '../../src/handlers/sender.js';
import { systemClock } from '../../src/services/ports.js';
import type { SendDeps } from '../../src/services/send-daily-message.js';
import { openAiWriter } from '../../src/wiring/openai.js';
import { buildSenderDeps } from '../../src/wiring/sender.js';
import { twilioSenderFrom, twilioSms } from '../../src/wiring/twilio.js';
import { useTestDb } from '../support/db.js';
import { CountingLimiter, chatCompletion, fixedClock } from '../support/sender-doubles.js';
import { RecordingScheduler } from '../support/webhook-doubles.js';

const { db } = useTestDb();

function deps(): SendDeps {
  const clock = fixedClock('2026-11-25T18:00:00Z');
  return {
    db: db(),
    clock,
    limiter: new CountingLimiter({}, clock),
    scheduler: new RecordingScheduler(),
    writer: createCuratedWriter(),
    sms: { send: vi.fn(async () => ({ sid: 'SMx', status: 'queued', segments: 1 })) },
    settings: {
      publicBaseUrl: 'https://sms.example.com',
      messagesPerDay: 10,
      dailyCostLimitUsd: 1,
      prices: { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 },
      writeTimeoutMs: 1000,
    },
  };
}

describe('sender handler', () => {
  it.each([
    [null, 'event'],
    ['a string', 'event'],
    [{}, 'deliveryId'],
    [{ deliveryId: 'not-a-uuid' }, 'deliveryId'],
    [{ deliveryId: 42 }, 'deliveryId'],
  ])('rejects %j without throwing and without touching anything', async (event, field) => {
    const getDeps = vi.fn(async () => deps());
    const result = await createSenderHandler(getDeps)(event);
    expect(result).toMatchObject({ outcome: 'rejected' });
    expect(result.outcome === 'rejected' && result.reason).toContain(field);
    expect(getDeps).not.toHaveBeenCalled();
  });

  it('answers not_found for an unknown delivery', async () => {
    const id = '5d4b3b1e-7c4e-4f7a-9b1e-2a8f0c6d1e23';
    expect(await createSenderHandler(async () => deps())({ deliveryId: id })).toEqual({
      outcome: 'not_found',
      deliveryId: id,
    });
  });
});

describe('sender wiring', () => {
  it('prefers the messaging service, else the number, else says what is missing', () => {
    const base = loadConfig({});
    expect(
      twilioSenderFrom({
        ...base,
        TWILIO_MESSAGING_SERVICE_SID: `MG${'b2'.repeat(16)}`,
        TWILIO_FROM_NUMBER: '+14155550100',
      }),
    ).toEqual({ messagingServiceSid: `MG${'b2'.repeat(16)}` });
    expect(twilioSenderFrom({ ...base, TWILIO_FROM_NUMBER: '+14155550100' })).toEqual({
      from: '+14155550100',
    });
    expect(() => twilioSenderFrom(base)).toThrow(/TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID/);
  });

  it('refuses to build without its settings and its Twilio and OpenAI secrets, naming each', async () => {
    await expect(loadLambdaConfig('sender', { DATABASE_URL: 'postgres://x@localhost/db' })).rejects.toThrow(
      /PUBLIC_BASE_URL: required[\s\S]*TWILIO_SECRET_ARN: required[\s\S]*OPENAI_SECRET_ARN: required/,
    );
  });

  it('builds deps from a full config: the service settings come from it', async () => {
    const config = await loadLambdaConfig('sender', {
      DATABASE_URL: 'postgres://x@localhost/db',
      PUBLIC_BASE_URL: 'https://a.example/',
      TWILIO_FROM_NUMBER: '+14155550100',
      OPENAI_API_KEY: 'sk-test-0123456789abcdefghijklmnop',
      TWILIO_ACCOUNT_SID: `AC${'a1'.repeat(16)}`,
      TWILIO_AUTH_TOKEN: 'test-auth-token-0123456789abcdef',
      SCHEDULER_GROUP_NAME: 'daily-positivity-test',
    });
    const built = buildSenderDeps(config, {
      db: db(),
      limiter: new CountingLimiter(),
      writer: createCuratedWriter(),
      sms: twilioSms(config, config.credentials.twilio),
      scheduler: new RecordingScheduler(),
    });
    expect(built.settings).toMatchObject({
      publicBaseUrl: 'https://a.example',
      messagesPerDay: 1000,
      dailyCostLimitUsd: 10,
    });
    expect(built.clock).toBe(systemClock);
  });
});

describe('OPENAI_BASE_URL', () => {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterAll(() => server.close());

  it('rejects a value that is not an http(s) URL, naming the variable', () => {
    expect(() => loadConfig({ OPENAI_BASE_URL: 'gateway.example.com/v1' })).toThrow(/OPENAI_BASE_URL/);
    expect(() => loadConfig({ OPENAI_BASE_URL: 'ftp://gateway.example.com/v1' })).toThrow(/OPENAI_BASE_URL/);
  });

  it("sends the writer's model requests to the configured endpoint", async () => {
    const seen: string[] = [];
    server.use(
      http.post('https://gateway.example.com/openai/v1/chat/completions', ({ request }) => {
        seen.push(request.url);
        return chatCompletion('A quiet cup of tea can be a whole small holiday today.');
      }),
      http.post('https://gateway.example.com/openai/v1/moderations', () =>
        HttpResponse.json({
          id: 'modr-1',
          model: 'omni-moderation-latest',
          results: [{ flagged: false, categories: {}, category_scores: {} }],
        }),
      ),
    );
    const config = loadConfig({ OPENAI_BASE_URL: 'https://gateway.example.com/openai/v1/' });
    const writer = openAiWriter(config, fixedCredentials({ apiKey: 'sk-test-0123456789abcdefghijklmnop' }), {
      limiter: new CountingLimiter(),
    });
    const written = await writer.write(
      { firstName: null, recent: [], localDate: '2026-11-25' },
      new Date(Date.now() + 10_000),
    );
    expect(seen).toEqual(['https://gateway.example.com/openai/v1/chat/completions']);
    expect(written.fallback).toBe(false);
  });
});
