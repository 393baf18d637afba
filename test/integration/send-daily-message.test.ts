// sendDailyMessage end to end: real Postgres, the OpenAI SDK and the Twilio adapter over HTTP, intercepted by msw.
import { delay, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { createOpenAiWriter, SYSTEM_PROMPT } from '../../src/adapters/openai-writer.js';
import { createTwilioSms } from '../../src/adapters/twilio-sms.js';
import { markStaleClaimsUnknown } from '../../src/db/repositories/deliveries/sending.js';
import { addUsage } from '../../src/db/repositories/usage.js';
import { SENDER_PACE_WAIT_MS } from '../../src/domain/call-budgets.js';
import { CURATED_MESSAGES } from '../../src/domain/curated-messages.js';
import { isSingleGsmSegment } from '../../src/domain/gsm.js';
import type { BudgetName } from '../../src/services/ports.js';
import {
  type SendDeps,
  type SenderSettings,
  sendDailyMessage,
} from '../../src/services/send-daily-message.js';
import { deliveriesWithStatus, useTestDb } from '../support/db.js';
import {
  type ChatRequestBody,
  CountingLimiter,
  chatCompletion,
  fixedClock,
  type ModerationRequestBody,
  moderationHandler,
  moderationResult,
  OPENAI_API_KEY,
  openAiError,
  openAiHandler,
  TWILIO_ACCOUNT_SID,
  TWILIO_AUTH_TOKEN,
  twilioCreated,
  twilioError,
  twilioHandler,
} from '../support/sender-doubles.js';
import { RecordingScheduler } from '../support/webhook-doubles.js';

const { db } = useTestDb();
// Every draft that passes the local guard is moderated; unless a test says otherwise, moderation passes it.
const moderationSeen: ModerationRequestBody[] = [];
const server = setupServer(moderationHandler(moderationSeen));
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const PHONE = '+14155550123';
const FROM = '+14155550100';
const MODEL = 'gpt-4o-mini';
// New York, 25 Nov 2026: window 12:00–17:00 EST = 17:00–22:00 UTC; "now" is 13:00 local.
const WINDOW = { window_start: '2026-11-25T17:00:00Z', window_end: '2026-11-25T22:00:00Z' };
const NOW = '2026-11-25T18:00:00Z';
const GOOD =
  'Ana, notice the late-autumn light on your walk home today. You have earned a slow, warm evening.';

const settings: SenderSettings = {
  publicBaseUrl: 'https://sms.example.com',
  messagesPerDay: 1000,
  dailyCostLimitUsd: 10,
  prices: { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 },
  writeTimeoutMs: 20_000,
};

let clock: ReturnType<typeof fixedClock>;
let limiter: CountingLimiter;
let waits: number[];
let openaiSeen: ChatRequestBody[];
let twilioSeen: URLSearchParams[];

function deps(
  overrides: Partial<SendDeps> & {
    requestTimeoutMs?: number;
    maxRetries?: number;
    moderation?: 'required' | 'best_effort';
  } = {},
): SendDeps {
  const curated = createCuratedWriter({ random: () => 0 });
  const sleep = async (ms: number) => {
    waits.push(ms);
  };
  const writer = createOpenAiWriter({
    client: new OpenAI({ apiKey: OPENAI_API_KEY, maxRetries: 0 }),
    model: MODEL,
    limiter,
    fallback: curated,
    clock,
    sleep,
    random: () => 0.5,
    requestTimeoutMs: overrides.requestTimeoutMs ?? 5_000,
    maxRetries: overrides.maxRetries ?? 3,
    moderation: overrides.moderation,
  });
  const sms = createTwilioSms({
    credentials: { accountSid: TWILIO_ACCOUNT_SID, authToken: TWILIO_AUTH_TOKEN },
    sender: { from: FROM },
    clock,
    sleep,
    random: () => 0.5,
  });
  return {
    db: db(),
    sms,
    writer,
    limiter,
    clock,
    settings,
    scheduler: new RecordingScheduler(),
    ...overrides,
  };
}

async function plannedDelivery(
  subscriber: { status?: 'active' | 'pending'; paused?: boolean; name?: string | null } = {},
) {
  const s = await db()
    .insertInto('subscribers')
    .values({
      phone: PHONE,
      time_zone: 'America/New_York',
      status: subscriber.status ?? 'active',
      paused: subscriber.paused ?? false,
      name: subscriber.name === undefined ? 'Ana' : subscriber.name,
      confirmed_at: '2026-11-01T12:00:00Z',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const d = await db()
    .insertInto('deliveries')
    .values({
      subscriber_id: s.id,
      local_date: '2026-11-25',
      time_zone: 'America/New_York',
      planned_at: NOW,
      ...WINDOW,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { subscriber: s, deliveryId: d.id };
}

const delivery = (id: string) => deliveriesWithStatus(db()).where('id', '=', id).executeTakeFirstOrThrow();
const usage = () => db().selectFrom('usage_daily').selectAll().execute();

beforeEach(() => {
  clock = fixedClock(NOW);
  limiter = new CountingLimiter({}, clock);
  waits = [];
  openaiSeen = [];
  twilioSeen = [];
  moderationSeen.length = 0;
});

describe('sendDailyMessage', () => {
  it('sends one message and records sid, body, segments, model, tokens, cost and usage', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD, { prompt_tokens: 131, completion_tokens: 29 })]),
      twilioHandler(twilioSeen),
    );

    const out = await sendDailyMessage(deps(), deliveryId);

    expect(out).toMatchObject({ outcome: 'sent', segments: 1, fallback: false });
    expect(openaiSeen).toHaveLength(1);
    const req = openaiSeen[0];
    expect(req?.model).toBe(MODEL);
    expect(req?.max_completion_tokens).toBe(80);
    expect(req).not.toHaveProperty('max_tokens');
    // The text is moderated exactly as it is sent, once.
    expect(moderationSeen).toEqual([{ model: 'omni-moderation-latest', input: GOOD }]);
    expect(req?.messages[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    expect(req?.messages[1]?.content).toContain('Wednesday 25 November');
    expect(req?.messages[1]?.content).toContain('Ana');
    expect(twilioSeen).toHaveLength(1);
    const form = twilioSeen[0];
    expect(form?.get('To')).toBe(PHONE);
    expect(form?.get('From')).toBe(FROM);
    expect(form?.get('Body')).toBe(GOOD);
    expect(form?.get('StatusCallback')).toBe('https://sms.example.com/twilio/status');
    expect(form?.get('ValidityPeriod')).toBe('14400'); // 18:00 → 22:00 UTC
    const row = await delivery(deliveryId);
    const cost = (131 * 0.15 + 29 * 0.6) / 1e6 + 0.0083;
    expect(row).toMatchObject({
      state: 'sent',
      message_sid: out.outcome === 'sent' ? out.messageSid : 'x',
      delivery_status: 'queued',
      body: GOOD,
      segments: 1,
      model: MODEL,
      fallback: false,
      tokens_in: 131,
      tokens_out: 29,
      replacement_reasons: [],
    });
    expect(row.cost_usd).toBeCloseTo(cost, 6);
    expect(row.sent_at?.toISOString()).toBe('2026-11-25T18:00:00.000Z');
    const [u] = await usage();
    expect(u).toMatchObject({
      day: '2026-11-25',
      openai_requests: 2, // the completion and its moderation: both take a turn of the request budget
      openai_tokens_in: 131,
      openai_tokens_out: 29,
      fallbacks: 0,
      sms_sent: 1,
      sms_segments: 1,
    });
    expect(u?.estimated_cost_usd).toBeCloseTo(cost, 6);
    // Token budget: reserved an estimate, refunded the unused part; net consumption equals real usage.
    const tokens = limiter.log.filter((e) => e.budget === 'openai_tokens');
    const net = tokens.reduce((n, e) => n + (e.op === 'consume' ? e.points : -e.points), 0);
    expect(net).toBe(160);
    expect(limiter.log.some((e) => e.budget === 'sms_per_second' && e.op === 'consume')).toBe(true);
  });

  it('three concurrent invocations of one delivery send exactly one SMS', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [
        async () => {
          await delay(50);
          return chatCompletion(GOOD);
        },
      ]),
      twilioHandler(twilioSeen),
    );
    const d = deps();

    const outcomes = await Promise.all([1, 2, 3].map(() => sendDailyMessage(d, deliveryId)));

    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['duplicate', 'duplicate', 'sent']);
    expect(openaiSeen).toHaveLength(1);
    expect(twilioSeen).toHaveLength(1);
    expect((await usage())[0]?.sms_sent).toBe(1);
  });

  it('answers not_found for an unknown or malformed id, and duplicate once sent', async () => {
    expect(await sendDailyMessage(deps(), '00000000-0000-4000-8000-000000000000')).toMatchObject({
      outcome: 'not_found',
    });
    expect(await sendDailyMessage(deps(), 'not-a-uuid')).toMatchObject({ outcome: 'not_found' });
    const { deliveryId } = await plannedDelivery();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));
    await sendDailyMessage(deps(), deliveryId);
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'duplicate', state: 'sent' });
    expect(twilioSeen).toHaveLength(1);
  });

  it.each([
    ['500', () => openAiError(500, 'server_error')],
    ['429 with Retry-After', () => openAiError(429, 'rate_limit_exceeded', { 'retry-after': '2' })],
    ['429 out of quota', () => openAiError(429, 'insufficient_quota')],
  ])('OpenAI %s → curated fallback is sent on time', async (label, reply) => {
    const { deliveryId } = await plannedDelivery({ name: null });
    server.use(openAiHandler(openaiSeen, [reply]), twilioHandler(twilioSeen));

    const out = await sendDailyMessage(deps(), deliveryId);

    expect(out).toMatchObject({ outcome: 'sent', fallback: true });
    const body = twilioSeen[0]?.get('Body');
    expect(CURATED_MESSAGES).toContain(body);
    if (label === '429 out of quota')
      expect(openaiSeen).toHaveLength(1); // no retry: money, not load
    else expect(openaiSeen).toHaveLength(4); // first call + 3 retries
    if (label === '429 with Retry-After') expect(waits.slice(0, 3)).toEqual([2000, 2000, 2000]);
    const row = await delivery(deliveryId);
    expect(row).toMatchObject({ state: 'sent', fallback: true, model: null, body });
    expect((await usage())[0]).toMatchObject({ fallbacks: 1, openai_requests: openaiSeen.length });
  });

  it('OpenAI timeout → curated fallback', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [
        async () => {
          await delay(2_000);
          return chatCompletion(GOOD);
        },
      ]),
      twilioHandler(twilioSeen),
    );

    const out = await sendDailyMessage(deps({ requestTimeoutMs: 150, maxRetries: 1 }), deliveryId);

    expect(out).toMatchObject({ outcome: 'sent', fallback: true });
    expect(openaiSeen).toHaveLength(2);
    expect(twilioSeen[0]?.get('Body')).toMatch(/^Hi Ana! /);
  });

  it('OpenAI output with emoji and curly quotes is normalized to one GSM-7 segment', async () => {
    const { deliveryId } = await plannedDelivery();
    const raw =
      '“You’re doing better than you think 🌻 — take a slow breath… and enjoy the afternoon sun, Ana!” ✨';
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(raw)]), twilioHandler(twilioSeen));

    await sendDailyMessage(deps(), deliveryId);

    const body = twilioSeen[0]?.get('Body') ?? '';
    expect(body).toBe(
      "You're doing better than you think - take a slow breath... and enjoy the afternoon sun, Ana!",
    );
    expect(isSingleGsmSegment(body)).toBe(true);
    expect((await delivery(deliveryId)).fallback).toBe(false);
  });

  it('regenerates once when the first output is too long or a refusal, then falls back', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [
        () => chatCompletion('Keep going! '.repeat(20)),
        () => chatCompletion("I'm sorry, but I can't help with that."),
      ]),
      twilioHandler(twilioSeen),
    );

    const out = await sendDailyMessage(deps(), deliveryId);

    expect(out).toMatchObject({ outcome: 'sent', fallback: true });
    expect(openaiSeen).toHaveLength(2);
    expect(openaiSeen[1]?.messages[1]?.content).toContain('(too_long)');
    expect((await delivery(deliveryId)).tokens_in).toBe(262); // both attempts are paid for
  });

  // ── Content safety (issue #20): nothing unchecked goes out, and every replacement says why ─────────
  it.each([
    ['a link', 'Find more sunshine at brightday.club this afternoon, Ana. You deserve it!', 'guard:link'],
    [
      'a phone number',
      'Ana, call 415-555-0199 for a daily dose of cheer this afternoon!',
      'guard:phone_number',
    ],
    ['an e-mail address', 'Ana, write to joy@brightday.org and tell us your small win today.', 'guard:email'],
    [
      'a SHAFT term',
      'Treat yourself to a cold beer tonight, Ana. You earned every sip of it.',
      'guard:alcohol',
    ],
  ])(
    'a draft with %s is never sent: regenerated once, then curated, with the reason recorded',
    async (_n, bad, reason) => {
      const { deliveryId } = await plannedDelivery();
      server.use(openAiHandler(openaiSeen, [() => chatCompletion(bad)]), twilioHandler(twilioSeen));

      const out = await sendDailyMessage(deps(), deliveryId);

      expect(out).toMatchObject({ outcome: 'sent', fallback: true, usage: { replaced: [reason, reason] } });
      expect(openaiSeen).toHaveLength(2);
      expect(moderationSeen).toHaveLength(0); // the local guard answers first, at no cost
      expect(twilioSeen[0]?.get('Body')).toBe(`Hi Ana! ${CURATED_MESSAGES[0]}`);
      expect(await delivery(deliveryId)).toMatchObject({
        fallback: true,
        replacement_reasons: [reason, reason],
      });
    },
  );

  it('a draft the guard rejects is regenerated, and the regenerated one is sent with the reason kept', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [
        () => chatCompletion('Pour yourself a glass of wine tonight, Ana, and let the evening be slow.'),
        () => chatCompletion(GOOD),
      ]),
      twilioHandler(twilioSeen),
    );

    await sendDailyMessage(deps(), deliveryId);

    expect(openaiSeen[1]?.messages[1]?.content).toContain('(alcohol)');
    expect(twilioSeen[0]?.get('Body')).toBe(GOOD);
    expect(await delivery(deliveryId)).toMatchObject({
      body: GOOD,
      fallback: false,
      model: MODEL,
      replacement_reasons: ['guard:alcohol'],
    });
  });

  it('a draft moderation flags is regenerated once, then replaced by a curated message', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      moderationHandler(moderationSeen, [() => moderationResult(true)]),
      twilioHandler(twilioSeen),
    );

    const out = await sendDailyMessage(deps(), deliveryId);

    expect(openaiSeen).toHaveLength(2);
    expect(moderationSeen).toHaveLength(2);
    expect(twilioSeen[0]?.get('Body')).toBe(`Hi Ana! ${CURATED_MESSAGES[0]}`);
    expect(out).toMatchObject({
      usage: { openaiRequests: 4, replaced: ['moderation_flagged', 'moderation_flagged'] },
    });
    expect(await delivery(deliveryId)).toMatchObject({
      fallback: true,
      replacement_reasons: ['moderation_flagged', 'moderation_flagged'],
    });
  });

  it('moderation unreachable: a curated message rather than an unchecked one (strict by default)', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      moderationHandler(moderationSeen, [() => openAiError(503, 'server_error')]),
      twilioHandler(twilioSeen),
    );

    await sendDailyMessage(deps({ maxRetries: 2 }), deliveryId);

    // The same retry rules as completions: 3 tries with backoff, then give up within the deadline.
    expect(moderationSeen).toHaveLength(3);
    expect(openaiSeen).toHaveLength(1); // no point writing again while moderation is down
    expect(twilioSeen[0]?.get('Body')).toBe(`Hi Ana! ${CURATED_MESSAGES[0]}`);
    expect(await delivery(deliveryId)).toMatchObject({
      fallback: true,
      replacement_reasons: ['moderation_unavailable'],
    });
    const requestTurns = limiter.log.filter((e) => e.budget === 'openai_requests' && e.op === 'consume');
    expect(requestTurns).toHaveLength(4);
  });

  it('moderation unreachable with moderation best_effort: the guarded draft goes out', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      moderationHandler(moderationSeen, [() => openAiError(503, 'server_error')]),
      twilioHandler(twilioSeen),
    );

    await sendDailyMessage(deps({ maxRetries: 0, moderation: 'best_effort' }), deliveryId);

    expect(twilioSeen[0]?.get('Body')).toBe(GOOD);
    expect(await delivery(deliveryId)).toMatchObject({ fallback: false, replacement_reasons: [] });
  });

  it.each([
    [
      'a refusal',
      () => chatCompletion(null, undefined, 'stop', "I'm sorry, I can't help with that."),
      'model_refusal',
    ],
    [
      'a content-filter stop',
      () => chatCompletion('Ana, tonight', undefined, 'content_filter'),
      'content_filter',
    ],
    ['a cut-off answer', () => chatCompletion(`${GOOD} And`, undefined, 'length'), 'guard:too_long'],
  ])('%s from the model is never sent, and recorded', async (_name, reply, reason) => {
    const { deliveryId } = await plannedDelivery();
    server.use(openAiHandler(openaiSeen, [reply]), twilioHandler(twilioSeen));

    await sendDailyMessage(deps(), deliveryId);

    expect(moderationSeen).toHaveLength(0);
    expect(twilioSeen[0]?.get('Body')).toBe(`Hi Ana! ${CURATED_MESSAGES[0]}`);
    expect(await delivery(deliveryId)).toMatchObject({ replacement_reasons: [reason, reason] });
  });

  it('never sends one of the last 30 messages again', async () => {
    const { subscriber, deliveryId } = await plannedDelivery({ name: null });
    // The previous day carried the very text the model now writes, modulo case and punctuation.
    await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriber.id,
        local_date: '2026-11-24',
        time_zone: 'America/New_York',
        window_start: '2026-11-24T17:00:00Z',
        window_end: '2026-11-24T22:00:00Z',
        state: 'sent',
        message_sid: 'SM_previous',
        body: GOOD.toUpperCase(),
        claimed_at: '2026-11-24T18:00:00Z',
      })
      .execute();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));

    await sendDailyMessage(deps(), deliveryId);

    expect(openaiSeen).toHaveLength(2);
    expect(openaiSeen[1]?.messages[1]?.content).toContain('(repeat)');
    expect(twilioSeen[0]?.get('Body')).not.toBe(GOOD);
    expect(twilioSeen[0]?.get('Body')).toBe(CURATED_MESSAGES[0]);
  });

  it('a subscriber who opted out after planning gets nothing', async () => {
    const { subscriber, deliveryId } = await plannedDelivery();
    await db()
      .updateTable('subscribers')
      .set({ status: 'opted_out', opted_out_at: NOW })
      .where('id', '=', subscriber.id)
      .execute();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));

    expect(await sendDailyMessage(deps(), deliveryId)).toEqual({
      outcome: 'skipped',
      deliveryId,
      reason: 'opted_out',
    });
    expect(openaiSeen).toHaveLength(0);
    expect(twilioSeen).toHaveLength(0);
    expect(await delivery(deliveryId)).toMatchObject({ state: 'skipped', reason: 'opted_out' });
  });

  it('a subscriber who opts out while the message is being written gets nothing', async () => {
    const { subscriber, deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [
        async () => {
          await db()
            .updateTable('subscribers')
            .set({ status: 'opted_out', opted_out_at: NOW })
            .where('id', '=', subscriber.id)
            .execute();
          return chatCompletion(GOOD);
        },
      ]),
      twilioHandler(twilioSeen),
    );

    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({
      outcome: 'skipped',
      reason: 'opted_out',
    });
    expect(twilioSeen).toHaveLength(0);
    expect((await usage())[0]).toMatchObject({ openai_requests: 2, sms_sent: 0 });
  });

  it('a paused subscriber is skipped', async () => {
    const { deliveryId } = await plannedDelivery({ paused: true });
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({
      outcome: 'skipped',
      reason: 'paused',
    });
  });

  it('a retry after the window closed is skipped as late, never sent in the evening', async () => {
    const { deliveryId } = await plannedDelivery();
    clock.set('2026-11-25T22:00:00Z');
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));

    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'skipped', reason: 'late' });
    expect(openaiSeen).toHaveLength(0);
    expect(twilioSeen).toHaveLength(0);
    expect(await delivery(deliveryId)).toMatchObject({ state: 'skipped', reason: 'late' });
  });

  it('waits for a pace turn no longer than the invocation can spare, then skips as late, sending nothing', async () => {
    // Prepare: the window runs for hours, but no sms_per_second turn comes.
    const { deliveryId } = await plannedDelivery();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));
    const asked: { budget: string; deadline: Date }[] = [];
    const paced = Object.assign(Object.create(limiter), {
      waitForTurn: async (budget: BudgetName, key: string, deadline: Date, points?: number) => {
        asked.push({ budget, deadline });
        return budget === 'sms_per_second'
          ? { allowed: false, retryAfterMs: 1_000 }
          : limiter.waitForTurn(budget, key, deadline, points);
      },
    }) as CountingLimiter;

    // Act
    const outcome = await sendDailyMessage(deps({ limiter: paced }), deliveryId);

    // Assess: the pace wait was bounded by SENDER_PACE_WAIT_MS, not by the window's end (17:00 local).
    expect(outcome).toMatchObject({ outcome: 'skipped', reason: 'late' });
    const pace = asked.filter((a) => a.budget === 'sms_per_second');
    expect(pace.map((a) => a.deadline.getTime())).toEqual([clock.now().getTime() + SENDER_PACE_WAIT_MS]);
    expect(twilioSeen).toHaveLength(0);
  });

  it('skips when the daily SMS quota of the delivery’s local date is used up (sms_quota_days)', async () => {
    const { deliveryId } = await plannedDelivery();
    await db().insertInto('sms_quota_days').values({ local_date: '2026-11-25', sms_sent: 1000 }).execute();
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'skipped', reason: 'quota' });
    expect(await delivery(deliveryId)).toMatchObject({ state: 'skipped', reason: 'quota' });
  });

  it('counts the quota per local date: a Los Angeles send after UTC midnight uses its own date’s quota', async () => {
    // Los Angeles, 25 Nov: window 12:00–17:00 PST = 20:00–01:00 UTC; now 16:30 PST = 00:30 UTC on the 26th.
    // The UTC day (26th) already saw the quota's worth of sends from other zones' 26 November; the 25th
    // has room for one more. The planner counts per local date, so must the sender.
    const losAngelesDelivery = async (phone: string, name: string | null) => {
      const s = await db()
        .insertInto('subscribers')
        .values({ phone, time_zone: 'America/Los_Angeles', status: 'active', name })
        .returning('id')
        .executeTakeFirstOrThrow();
      const d = await db()
        .insertInto('deliveries')
        .values({
          subscriber_id: s.id,
          local_date: '2026-11-25',
          time_zone: 'America/Los_Angeles',
          window_start: '2026-11-25T20:00:00Z',
          window_end: '2026-11-26T01:00:00Z',
          planned_at: '2026-11-26T00:30:00Z',
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return d.id;
    };
    const id = await losAngelesDelivery(PHONE, 'Ana');
    clock.set('2026-11-26T00:30:00Z');
    await addUsage(db(), '2026-11-26', { smsSent: 1000, smsSegments: 1000 });
    await db().insertInto('sms_quota_days').values({ local_date: '2026-11-25', sms_sent: 999 }).execute();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));

    expect(await sendDailyMessage(deps(), id)).toMatchObject({ outcome: 'sent' });
    expect(twilioSeen).toHaveLength(1);
    // The shared budget is keyed by the local date too, and the send is counted there.
    expect(limiter.log.filter((l) => l.budget === 'sms_per_day').map((l) => [l.op, l.key])).toEqual([
      ['consume', '2026-11-25'],
    ]);
    const quota = await db().selectFrom('sms_quota_days').selectAll().orderBy('local_date').execute();
    expect(quota.map((q) => [q.local_date, q.sms_sent])).toEqual([['2026-11-25', 1000]]);
    // The next send on the 25th finds the quota used.
    const second = await losAngelesDelivery('+14155550124', null);
    expect(await sendDailyMessage(deps(), second)).toMatchObject({ outcome: 'skipped', reason: 'quota' });
  });

  it('skips when the shared sms_per_day budget is used up', async () => {
    const { deliveryId } = await plannedDelivery();
    limiter = new CountingLimiter({ sms_per_day: { points: 0, windowMs: 86_400_000 } }, clock);
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'skipped', reason: 'quota' });
    expect(openaiSeen).toHaveLength(0);
  });

  it('skips when the daily cost cap is reached', async () => {
    const { deliveryId } = await plannedDelivery();
    await addUsage(db(), '2026-11-25', { costUsd: 10 });
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({
      outcome: 'skipped',
      reason: 'cost_cap',
    });
    expect(openaiSeen).toHaveLength(0);
    expect(twilioSeen).toHaveLength(0);
  });

  it('Twilio 21610 opts the subscriber out with a carrier consent event', async () => {
    const { subscriber, deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      twilioHandler(twilioSeen, [() => twilioError(400, 21610, 'Attempt to send to unsubscribed recipient')]),
    );

    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'failed', code: 21610 });
    expect(twilioSeen).toHaveLength(1);
    expect(await delivery(deliveryId)).toMatchObject({ state: 'failed', error_code: 21610 });
    const s = await db()
      .selectFrom('subscribers')
      .selectAll()
      .where('id', '=', subscriber.id)
      .executeTakeFirst();
    expect(s).toMatchObject({ status: 'opted_out' });
    expect(s?.opted_out_at).toBeInstanceOf(Date);
    const events = await db().selectFrom('consent_events').selectAll().execute();
    expect(events).toMatchObject([
      { subscriber_id: subscriber.id, kind: 'opt_out', source: 'carrier', phone: PHONE },
    ]);
  });

  it('a send-time 21610 goes through the one opt-out path: later planned deliveries cancelled and unscheduled', async () => {
    const { subscriber, deliveryId } = await plannedDelivery();
    const tomorrow = await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: subscriber.id,
        local_date: '2026-11-26',
        time_zone: 'America/New_York',
        window_start: '2026-11-26T17:00:00Z',
        window_end: '2026-11-26T22:00:00Z',
        planned_at: '2026-11-26T19:00:00Z',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const scheduler = new RecordingScheduler();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      twilioHandler(twilioSeen, [() => twilioError(400, 21610, 'Attempt to send to unsubscribed recipient')]),
    );

    const out = await sendDailyMessage(deps({ scheduler }), deliveryId);

    expect(out).toMatchObject({ outcome: 'failed', reason: 'opted_out_at_carrier' });
    expect(await delivery(tomorrow.id)).toMatchObject({ state: 'cancelled', reason: 'opted_out' });
    expect(scheduler.cancelled).toEqual([tomorrow.id]);
    expect(await db().selectFrom('consent_events').select(['kind', 'source']).execute()).toEqual([
      { kind: 'opt_out', source: 'carrier' },
    ]);
  });

  it('a send-time 21610 for a subscriber who opted out a moment earlier adds no second consent event', async () => {
    const { subscriber, deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      twilioHandler(twilioSeen, [
        async () => {
          // The STOP lands between the sender's last check and Twilio's refusal.
          await db()
            .updateTable('subscribers')
            .set({ status: 'opted_out', opted_out_at: NOW })
            .where('id', '=', subscriber.id)
            .execute();
          await db()
            .insertInto('consent_events')
            .values({ subscriber_id: subscriber.id, phone: PHONE, kind: 'opt_out', source: 'sms' })
            .execute();
          return twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');
        },
      ]),
    );

    await sendDailyMessage(deps({ scheduler: new RecordingScheduler() }), deliveryId);

    expect(await db().selectFrom('consent_events').select(['kind', 'source']).execute()).toEqual([
      { kind: 'opt_out', source: 'sms' },
    ]);
  });

  it('a non-retryable Twilio error fails the delivery with its code', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      twilioHandler(twilioSeen, [
        () => twilioError(400, 21211, "The 'To' number is not a valid phone number."),
      ]),
    );
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'failed', code: 21211 });
    expect(twilioSeen).toHaveLength(1);
    expect(await delivery(deliveryId)).toMatchObject({
      state: 'failed',
      error_code: 21211,
      reason: 'twilio_rejected',
    });
  });

  it('Twilio 429 then success → one message', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      twilioHandler(twilioSeen, [
        () => twilioError(429, 20429, 'Too Many Requests'),
        () => twilioError(503, 20503, 'Service unavailable'),
        (form) => twilioCreated(form),
      ]),
    );

    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({ outcome: 'sent' });
    expect(twilioSeen).toHaveLength(3);
    expect(new Set(twilioSeen.map((f) => f.get('Body')))).toEqual(new Set([GOOD]));
    expect(waits).toEqual([250, 500]); // full jitter at 0.5 of 500 ms, then of 1000 ms
    expect((await usage())[0]?.sms_sent).toBe(1);
  });

  it('a Twilio timeout is never retried: the delivery becomes unknown', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(
      openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]),
      twilioHandler(twilioSeen, [() => HttpResponse.error()]),
    );
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({
      outcome: 'failed',
      reason: 'twilio_outcome_unknown',
    });
    expect(twilioSeen).toHaveLength(1);
    // What was sent is kept, so reconciliation can tell our message from another text to the number.
    expect(await delivery(deliveryId)).toMatchObject({ state: 'unknown', body: GOOD, segments: 1 });
  });

  it('a sender that dies inside the Twilio call leaves a claim that already holds the body', async () => {
    const { deliveryId } = await plannedDelivery();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]));
    const dying = {
      send: async () => {
        throw new Error('Lambda ran out of time mid-request');
      },
    };

    await expect(sendDailyMessage(deps({ sms: dying }), deliveryId)).rejects.toThrow('ran out of time');

    expect(await delivery(deliveryId)).toMatchObject({ state: 'sending', body: GOOD, segments: 1 });
  });

  it('a claim left in sending is turned unknown and never resent', async () => {
    const { deliveryId } = await plannedDelivery();
    await db()
      .updateTable('deliveries')
      .set({ state: 'sending', claimed_at: '2026-11-25T17:30:00Z' })
      .where('id', '=', deliveryId)
      .execute();
    server.use(openAiHandler(openaiSeen, [() => chatCompletion(GOOD)]), twilioHandler(twilioSeen));

    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({
      outcome: 'duplicate',
      state: 'sending',
    });
    expect(await markStaleClaimsUnknown(db(), new Date('2026-11-25T17:00:00Z'))).toBe(0);
    expect(await markStaleClaimsUnknown(db(), new Date('2026-11-25T17:45:00Z'))).toBe(1);
    expect(await sendDailyMessage(deps(), deliveryId)).toMatchObject({
      outcome: 'duplicate',
      state: 'unknown',
    });
    expect(twilioSeen).toHaveLength(0);
    expect(openaiSeen).toHaveLength(0);
  });
});
