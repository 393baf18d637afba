// The OpenAI writer against what the API accepts and answers: request bodies as they go over HTTP (built
// with the SDK's own parameter types, so a misspelled field fails the typecheck), and the recorded-format
// answers of test/fixtures/openai/responses.ts (typed by the SDK's response types), including a refusal,
// a cut-off answer, a content-filter stop and a flagged moderation result.
import { HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import {
  chatCompletionParams,
  createOpenAiWriter,
  isReasoningModel,
  MODERATION_MODEL,
} from '../../src/adapters/openai-writer.js';
import { loadConfig } from '../../src/config.js';
import { CHAT_COMPLETION, MODERATION_FLAGGED, MODERATION_PASSED } from '../fixtures/openai/responses.js';
import { unlimitedLimiter } from '../fixtures/realistic-model.js';
import {
  type ChatRequestBody,
  chatCompletion,
  fixedClock,
  type ModerationRequestBody,
  moderationHandler,
  OPENAI_API_KEY,
  openAiError,
  openAiHandler,
} from '../support/sender-doubles.js';

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const REQUEST = { firstName: 'Ana', recent: [], localDate: '2026-11-25' };
const deadline = () => new Date(Date.now() + 10_000);
const RECORDED_TEXT = CHAT_COMPLETION.choices[0]?.message.content ?? '';

function writer(model: string) {
  return createOpenAiWriter({
    client: new OpenAI({ apiKey: OPENAI_API_KEY, maxRetries: 0 }),
    model,
    limiter: unlimitedLimiter,
    fallback: createCuratedWriter({ random: () => 0 }),
    clock: fixedClock('2026-11-25T18:00:00Z'),
    sleep: async () => {},
    random: () => 0.5,
    maxRetries: 1,
  });
}

describe('requests', () => {
  // Every model OPENAI_MODEL accepts (a GPT-4-family name), and the default.
  const configured = loadConfig({}).OPENAI_MODEL;
  it.each([configured, 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1-nano', 'gpt-4-turbo'])(
    '%s: the body on the wire is the SDK-typed request, with max_completion_tokens and never max_tokens',
    async (model) => {
      const chats: ChatRequestBody[] = [];
      const moderations: ModerationRequestBody[] = [];
      server.use(
        openAiHandler(chats, [() => HttpResponse.json(CHAT_COMPLETION)]),
        moderationHandler(moderations),
      );

      const written = await writer(model).write(REQUEST, deadline());

      expect(written).toMatchObject({ body: RECORDED_TEXT, fallback: false, replaced: [] });
      const body = chats[0];
      expect(body).toEqual(
        JSON.parse(JSON.stringify(chatCompletionParams(model, body?.messages as never, 80))),
      );
      expect(body).toMatchObject({ model, max_completion_tokens: 80, n: 1, temperature: 1 });
      expect(body).not.toHaveProperty('max_tokens');
      expect(moderations).toEqual([{ model: MODERATION_MODEL, input: RECORDED_TEXT }]);
    },
  );

  it.each([
    ['gpt-4o-mini', false],
    ['gpt-4.1', false],
    ['o3-mini', true],
    ['o4-mini', true],
    ['gpt-5-mini', true],
  ])('%s is a reasoning model: %s (no temperature is sent to those)', (model, reasoning) => {
    expect(isReasoningModel(model)).toBe(reasoning);
    const params = chatCompletionParams(model, [{ role: 'user', content: 'hi' }], 80);
    expect('temperature' in params).toBe(!reasoning);
    expect(params.max_completion_tokens).toBe(80);
    expect(params).not.toHaveProperty('max_tokens');
  });
});

describe('recorded answers', () => {
  it('reads the recorded completion and usage, and a passed moderation result', async () => {
    server.use(
      openAiHandler([], [() => HttpResponse.json(CHAT_COMPLETION)]),
      moderationHandler([], [() => HttpResponse.json(MODERATION_PASSED)]),
    );
    expect(await writer('gpt-4o-mini').write(REQUEST, deadline())).toEqual({
      body: RECORDED_TEXT,
      model: 'gpt-4o-mini',
      tokensIn: CHAT_COMPLETION.usage.prompt_tokens,
      tokensOut: CHAT_COMPLETION.usage.completion_tokens,
      requests: 2,
      moderationRequests: 1,
      replaced: [],
      fallback: false,
    });
  });

  it.each([
    [
      'refusal',
      () => chatCompletion(null, undefined, 'stop', "I'm sorry, but I can't help with that."),
      'model_refusal',
    ],
    ['finish_reason "length"', () => chatCompletion(RECORDED_TEXT, undefined, 'length'), 'guard:too_long'],
    [
      'finish_reason "content_filter"',
      () => chatCompletion('', undefined, 'content_filter'),
      'content_filter',
    ],
  ])('a %s is discarded, regenerated once, then curated', async (_name, reply, reason) => {
    const moderations: ModerationRequestBody[] = [];
    server.use(openAiHandler([], [reply]), moderationHandler(moderations));
    const written = await writer('gpt-4o-mini').write(REQUEST, deadline());
    expect(written).toMatchObject({ fallback: true, model: null, replaced: [reason, reason] });
    expect(moderations).toHaveLength(0);
  });

  it('a flagged moderation result discards the draft', async () => {
    server.use(
      openAiHandler([], [() => HttpResponse.json(CHAT_COMPLETION)]),
      moderationHandler([], [() => HttpResponse.json(MODERATION_FLAGGED)]),
    );
    expect(await writer('gpt-4o-mini').write(REQUEST, deadline())).toMatchObject({
      fallback: true,
      replaced: ['moderation_flagged', 'moderation_flagged'],
    });
  });

  it.each([
    ['no results', () => HttpResponse.json({ ...MODERATION_PASSED, results: [] })],
    ['a 400', () => openAiError(400, 'invalid_request_error')],
  ])('a moderation answer with %s is no check at all: curated', async (_name, reply) => {
    const moderations: ModerationRequestBody[] = [];
    server.use(
      openAiHandler([], [() => HttpResponse.json(CHAT_COMPLETION)]),
      moderationHandler(moderations, [reply]),
    );
    expect(await writer('gpt-4o-mini').write(REQUEST, deadline())).toMatchObject({
      fallback: true,
      replaced: ['moderation_unavailable'],
    });
    expect(moderations).toHaveLength(1); // neither is worth retrying
  });
});
