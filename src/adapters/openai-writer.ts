// MessageWriter over OpenAI chat completions: shared request/token budgets, retries we control, output
// normalised and checked by the local guard, then by OpenAI's moderation model, one regeneration, and the
// curated library when any of that fails. Each discarded draft leaves its reason (ReplacementReason).
import { DateTime } from 'luxon';
import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { ModerationCreateParams, ModerationModel } from 'openai/resources/moderations';
import { type BackoffPolicy, backoffDelay, parseRetryAfter } from '../domain/backoff.js';
import { checkMessage, type ReplacementReason, unwrapModelOutput } from '../domain/message-quality.js';
import { logger } from '../logger.js';
import {
  type Clock,
  type MessageWriter,
  type RateLimiter,
  systemClock,
  type WriteRequest,
  type WrittenMessage,
} from '../services/ports.js';
import { greetingName } from './curated-writer.js';

export const SYSTEM_PROMPT = [
  'You write the one daily text message of a positivity SMS service for adults.',
  'Write exactly one warm, specific, encouraging message.',
  'Rules: at most 150 characters. Plain text only: no emoji, no hashtags, no quotation marks around it,',
  'no links, no phone numbers. Nothing religious or spiritual. No health, medical, diet or therapy advice.',
  'Never mention being an AI. Avoid generic platitudes: use one small, concrete, everyday image or action.',
  'Reply with the message only.',
].join(' ');

/** Variety without sending anything the subscriber wrote: the model gets a date, a theme and a name. */
const THEMES = [
  'a small win worth noticing',
  'the afternoon light',
  'a kind word to a stranger',
  'taking a short walk',
  'an old friend',
  'rest without guilt',
  'curiosity and learning something new',
  'a warm drink and a pause',
  'being patient with yourself',
  'the season outside the window',
  'laughter',
  'a tidy small corner',
  'courage for one small step',
  'gratitude for ordinary things',
  'music',
  'helping a neighbour',
  'looking forward to the weekend',
  'progress that is slow but real',
  'the sky and the weather',
  'home comforts',
  'a good meal',
  'trying something for the first time',
];

const MAX_GENERATIONS = 2;
/** Free of charge, text and image, and the model OpenAI recommends for new applications. */
export const MODERATION_MODEL = 'omni-moderation-latest' satisfies ModerationModel;

/**
 * Reasoning models (o1, o3, o4-mini, gpt-5…) reject `temperature` other than the default and `max_tokens`;
 * GPT-4-family models take both. `max_completion_tokens` is accepted by every current chat model, and
 * `max_tokens` is deprecated, so it is never sent.
 */
export function isReasoningModel(model: string): boolean {
  return /^(o\d|gpt-5)/.test(model);
}

/** The chat completion request, typed by the SDK (so a misspelled parameter fails the typecheck). */
export function chatCompletionParams(
  model: string,
  messages: ChatMessage[],
  maxOutputTokens: number,
): ChatCompletionCreateParamsNonStreaming {
  return {
    model,
    messages: messages satisfies ChatCompletionMessageParam[],
    max_completion_tokens: maxOutputTokens,
    ...(isReasoningModel(model) ? {} : { temperature: 1 }),
    n: 1,
  };
}

/** The moderation request: the text exactly as it would be sent. */
function moderationParams(text: string): ModerationCreateParams {
  return { model: MODERATION_MODEL, input: text };
}

export interface OpenAiWriterOptions {
  client: OpenAI;
  model: string;
  limiter: RateLimiter;
  /** Writes the message when OpenAI cannot (normally the curated writer). */
  fallback: MessageWriter;
  maxOutputTokens?: number;
  /** Upper bound for one HTTP call; the overall deadline still wins. */
  requestTimeoutMs?: number;
  /** How long to queue for the shared budgets before giving up and using the fallback. */
  budgetWaitMs?: number;
  maxRetries?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  clock?: Clock;
  /** Limiter key shared by every instance. */
  limiterKey?: string;
  /**
   * OpenAI moderation of every draft that passed the local guard. `required` (the default): a draft
   * moderation could not check is replaced by a curated message; `best_effort`: it is sent on the local
   * guard alone. `off` is for measurements only (the bench's baseline).
   */
  moderation?: 'required' | 'best_effort' | 'off';
}

/** Why OpenAI gave no usable message this time. */
class ModelUnavailable extends Error {
  constructor(readonly reason: 'request_budget' | 'token_budget' | 'quota' | 'error' | 'deadline') {
    super(`OpenAI unavailable: ${reason}`);
    this.name = 'ModelUnavailable';
  }
}

interface Completion {
  content: string;
  /** Why the answer is unusable before any check of its text, if it is. */
  unusable: 'model_refusal' | 'content_filter' | 'guard:too_long' | null;
  tokensIn: number;
  tokensOut: number;
}

type ChatMessage = { role: 'system' | 'user'; content: string };

/** Reads the one choice: a refusal, a content-filter stop or a cut-off answer is not a message. */
function readChoice(
  choice: OpenAI.Chat.Completions.ChatCompletion.Choice | undefined,
): Completion['unusable'] {
  if (!choice) return 'model_refusal';
  if (choice.message?.refusal) return 'model_refusal';
  if (choice.finish_reason === 'content_filter') return 'content_filter';
  if (choice.finish_reason === 'length') return 'guard:too_long';
  return null;
}

/** Rough prompt size (4 characters a token, plus per-message framing) for reserving the token budget. */
function estimatePromptTokens(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + Math.ceil(m.content.length / 4) + 4, 3);
}

function buildUserPrompt(
  request: WriteRequest,
  theme: string,
  previousProblem: ReplacementReason | null,
): string {
  const day = DateTime.fromISO(request.localDate, { zone: 'UTC' });
  const parts = [
    `Today is ${day.isValid ? day.toFormat('cccc d LLLL') : 'an ordinary day'}.`,
    `Theme: ${theme}.`,
  ];
  const name = greetingName(request.firstName);
  parts.push(name ? `Address the reader once by first name: ${name}.` : 'Do not use a name.');
  if (previousProblem)
    parts.push(
      `The previous draft was unusable (${previousProblem.replace(/^guard:/, '')}); write a different, shorter one.`,
    );
  return parts.join(' ');
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createOpenAiWriter(options: OpenAiWriterOptions): MessageWriter {
  const {
    client,
    model,
    limiter,
    fallback,
    maxOutputTokens = 80,
    requestTimeoutMs = 8_000,
    budgetWaitMs = 5_000,
    maxRetries = 3,
    backoff = { baseMs: 300, capMs: 4_000 },
    random = Math.random,
    sleep = defaultSleep,
    clock = systemClock,
    limiterKey = 'openai',
    moderation = 'required',
  } = options;

  type Counter = { requests: number; moderationRequests: number };

  /**
   * One OpenAI call, retried on 429/5xx/timeouts within the deadline, after taking a turn from the shared
   * request budget and (for a completion) reserving its token estimate. `settle` gets the tokens used.
   */
  async function call<T>(
    deadline: Date,
    counter: Counter,
    kind: 'requests' | 'moderationRequests',
    tokenEstimate: number | null,
    send: (timeout: number) => Promise<{ result: T; tokensUsed: number | null }>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const budgetDeadline = new Date(Math.min(deadline.getTime(), clock.now().getTime() + budgetWaitMs));
      const request = await limiter.waitForTurn('openai_requests', limiterKey, budgetDeadline, 1);
      if (!request.allowed) throw new ModelUnavailable('request_budget');
      const tokens =
        tokenEstimate === null
          ? null
          : await limiter.reserve('openai_tokens', limiterKey, tokenEstimate, budgetDeadline);
      if (tokens && !tokens.allowed) {
        await limiter.refund('openai_requests', limiterKey, 1);
        throw new ModelUnavailable('token_budget');
      }
      const settle = (n: number) => (tokens?.allowed ? tokens.settle(n) : Promise.resolve());
      const timeout = Math.min(requestTimeoutMs, deadline.getTime() - clock.now().getTime());
      if (timeout <= 0) {
        await settle(0);
        throw new ModelUnavailable('deadline');
      }
      counter[kind] += 1;
      try {
        const { result, tokensUsed } = await send(timeout);
        // The reservation was a guess: settle gives back what was not used, or records (never refuses)
        // what was used beyond it.
        await settle(tokensUsed ?? tokenEstimate ?? 0);
        return result;
      } catch (err) {
        const retry = classify(err);
        // A rejected or never-answered call used no tokens; a timed-out one may have, so keep that reservation.
        await settle(err instanceof OpenAI.APIConnectionTimeoutError ? (tokenEstimate ?? 0) : 0);
        if (retry.kind === 'fatal') throw new ModelUnavailable(retry.reason);
        const wait = retry.retryAfterMs ?? backoffDelay(attempt, random, backoff);
        const remaining = deadline.getTime() - clock.now().getTime();
        if (attempt >= maxRetries || wait + 500 >= remaining) throw new ModelUnavailable('deadline');
        logger.warn('openai call failed; retrying', { status: retry.status, attempt, waitMs: wait, kind });
        await sleep(wait);
      }
    }
  }

  /** One completion; budgets and retries as for every call. */
  function complete(messages: ChatMessage[], deadline: Date, counter: Counter): Promise<Completion> {
    const estimate = estimatePromptTokens(messages) + maxOutputTokens;
    return call(deadline, counter, 'requests', estimate, async (timeout) => {
      const res = await client.chat.completions.create(
        chatCompletionParams(model, messages, maxOutputTokens),
        {
          timeout,
          maxRetries: 0,
        },
      );
      const choice = res.choices[0];
      return {
        result: {
          content: choice?.message?.content ?? '',
          unusable: readChoice(choice),
          tokensIn: res.usage?.prompt_tokens ?? 0,
          tokensOut: res.usage?.completion_tokens ?? 0,
        },
        tokensUsed: res.usage?.total_tokens ?? null,
      };
    });
  }

  /** True when the moderation model flags the text; a result it cannot read counts as unavailable. */
  function isFlagged(text: string, deadline: Date, counter: Counter): Promise<boolean> {
    return call(deadline, counter, 'moderationRequests', null, async (timeout) => {
      const res = await client.moderations.create(moderationParams(text), { timeout, maxRetries: 0 });
      const result = res.results?.[0];
      if (!result || typeof result.flagged !== 'boolean') throw new ModelUnavailable('error');
      if (result.flagged) {
        const categories = Object.entries(result.categories ?? {})
          .filter(([, on]) => on === true)
          .map(([name]) => name);
        logger.warn('moderation flagged a draft', { categories });
      }
      return { result: result.flagged, tokensUsed: null };
    });
  }

  function classify(
    err: unknown,
  ):
    | { kind: 'retry'; status: number | null; retryAfterMs: number | null }
    | { kind: 'fatal'; reason: 'quota' | 'error' } {
    if (err instanceof OpenAI.APIConnectionError) return { kind: 'retry', status: null, retryAfterMs: null };
    if (err instanceof OpenAI.APIError) {
      const status = err.status ?? 0;
      if (status === 429 && err.code === 'insufficient_quota') return { kind: 'fatal', reason: 'quota' };
      if (status === 429 || status === 408 || status === 409 || status >= 500) {
        const retryAfterMs = parseRetryAfter(
          { retryAfterMs: err.headers?.get('retry-after-ms'), retryAfter: err.headers?.get('retry-after') },
          clock.now(),
        );
        return { kind: 'retry', status, retryAfterMs };
      }
    }
    logger.error('openai call failed and will not be retried', { error: err });
    return { kind: 'fatal', reason: 'error' };
  }

  return {
    async write(request: WriteRequest, deadline: Date): Promise<WrittenMessage> {
      const counter: Counter = { requests: 0, moderationRequests: 0 };
      let tokensIn = 0;
      let tokensOut = 0;
      const replaced: ReplacementReason[] = [];
      const usage = () => ({
        tokensIn,
        tokensOut,
        requests: counter.requests + counter.moderationRequests,
        moderationRequests: counter.moderationRequests,
        replaced,
      });
      const theme = THEMES[Math.floor(random() * THEMES.length)] ?? 'kindness';
      try {
        for (let generation = 0; generation < MAX_GENERATIONS; generation++) {
          const messages: ChatMessage[] = [
            { role: 'system', content: SYSTEM_PROMPT },
            { role: 'user', content: buildUserPrompt(request, theme, replaced.at(-1) ?? null) },
          ];
          const completion = await complete(messages, deadline, counter);
          tokensIn += completion.tokensIn;
          tokensOut += completion.tokensOut;
          const body = unwrapModelOutput(completion.content);
          const verdict = completion.unusable ? null : checkMessage(body, request.recent);
          const rejected =
            completion.unusable ?? (verdict && !verdict.ok ? (`guard:${verdict.problem}` as const) : null);
          if (rejected) {
            replaced.push(rejected);
            logger.warn('openai output rejected', { reason: rejected, generation });
            continue;
          }
          if (moderation !== 'off') {
            let flagged: boolean;
            try {
              flagged = await isFlagged(body, deadline, counter);
            } catch (err) {
              if (!(err instanceof ModelUnavailable) || moderation === 'required') {
                // Never send a text nobody could check: the curated library is always safe.
                replaced.push('moderation_unavailable');
                throw err;
              }
              logger.warn('moderation unavailable; sending a draft checked by the local guard only', {
                reason: err.reason,
              });
              flagged = false;
            }
            if (flagged) {
              replaced.push('moderation_flagged');
              continue;
            }
          }
          return { body, model, ...usage(), fallback: false };
        }
      } catch (err) {
        // Whatever went wrong (even a limiter store outage), the subscriber still gets a message on time.
        const reason = err instanceof ModelUnavailable ? err.reason : 'unexpected';
        if (!(err instanceof ModelUnavailable)) {
          logger.error('openai writer failed unexpectedly', { error: err });
        }
        logger.warn('using the curated fallback', { reason });
      }
      const curated = await fallback.write(request, deadline);
      return { ...curated, ...usage(), fallback: true };
    },
  };
}
