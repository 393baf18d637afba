// The sender Lambda's edge: event validation without retry storms, not_found, and the stale-claim sweep.
import { describe, expect, it, vi } from 'vitest';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { loadConfig } from '../../src/config.js';
import { buildSenderDeps, createSenderHandler } from '../../src/handlers/sender.js';
import { twilioSenderFrom } from '../../src/handlers/wiring/twilio.js';
import type { SendDeps } from '../../src/services/send-daily-message.js';
import { useTestDb } from '../support/db.js';
import { CountingLimiter, fixedClock } from '../support/sender-doubles.js';

const { db } = useTestDb();

function deps(): SendDeps {
  const clock = fixedClock('2026-11-25T18:00:00Z');
  return {
    db: db(),
    clock,
    limiter: new CountingLimiter({}, clock),
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

  it('turns claims stuck in sending for 15 minutes into unknown, leaving fresh ones alone', async () => {
    const s = await db()
      .insertInto('subscribers')
      .values({ phone: '+14155550123', time_zone: 'America/New_York', status: 'active' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const row = (local_date: string, claimed_at: string) => ({
      subscriber_id: s.id,
      local_date,
      time_zone: 'America/New_York',
      window_start: `${local_date}T17:00:00Z`,
      window_end: `${local_date}T22:00:00Z`,
      state: 'sending' as const,
      claimed_at,
    });
    await db()
      .insertInto('deliveries')
      .values([row('2026-11-24', '2026-11-25T17:44:00Z'), row('2026-11-25', '2026-11-25T17:50:00Z')])
      .execute();

    await createSenderHandler(async () => deps())({ deliveryId: '5d4b3b1e-7c4e-4f7a-9b1e-2a8f0c6d1e23' });

    const states = await db()
      .selectFrom('deliveries')
      .select(['local_date', 'state'])
      .orderBy('local_date')
      .execute();
    expect(states).toEqual([
      { local_date: '2026-11-24', state: 'unknown' },
      { local_date: '2026-11-25', state: 'sending' },
    ]);
  });
});

describe('sender wiring', () => {
  const secrets = {
    OPENAI_API_KEY: 'sk-test-0123456789abcdefghijklmnop',
    TWILIO_ACCOUNT_SID: `AC${'a1'.repeat(16)}`,
    TWILIO_AUTH_TOKEN: 'test-auth-token-0123456789abcdef',
  };

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

  it('refuses to build without the OpenAI and Twilio secrets', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://x@localhost/db',
      PUBLIC_BASE_URL: 'https://a.example',
    });
    expect(() => buildSenderDeps(config, new CountingLimiter())).toThrow(
      /OpenAI\/Twilio secrets are required/,
    );
  });

  it('builds deps with a small pool from a full config', async () => {
    const config = loadConfig(
      {
        DATABASE_URL: 'postgres://x@localhost/db',
        PUBLIC_BASE_URL: 'https://a.example/',
        TWILIO_FROM_NUMBER: '+14155550100',
      },
      { secrets },
    );
    const built = buildSenderDeps(config, new CountingLimiter());
    expect(built.settings).toMatchObject({
      publicBaseUrl: 'https://a.example',
      messagesPerDay: 1000,
      dailyCostLimitUsd: 10,
    });
    await built.db.destroy();
  });
});
