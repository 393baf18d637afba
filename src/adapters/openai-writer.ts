// MessageWriter over OpenAI chat completions: shared request/token budgets, retries we control, output
// normalised and checked, one regeneration, and the curated library when any of that fails.
import { DateTime } from 'luxon';
import OpenAI from 'openai';
import { type BackoffPolicy, backoffDelay, parseRetryAfter } from '../domain/backoff.js';
import { checkMessage, type QualityProblem, unwrapModelOutput } from '../domain/message-quality.js';
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

export const MAX_GENERATIONS = 2;

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
}

/** Why OpenAI gave no usable message this time. */
export class ModelUnavailable extends Error {
  constructor(readonly reason: 'request_budget' | 'token_budget' | 'quota' | 'error' | 'deadline') {
    super(`OpenAI unavailable: ${reason}`);
    this.name = 'ModelUnavailable';
  }
}

interface Completion {
  content: string;
  truncated: boolean;
  tokensIn: number;
  tokensOut: number;
}

type ChatMessage = { role: 'system' | 'user'; content: string };

/** Rough prompt size (4 characters a token, plus per-message framing) for reserving the token budget. */
export function estimatePromptTokens(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + Math.ceil(m.content.length / 4) + 4, 3);
}

export function buildUserPrompt(
  request: WriteRequest,
  theme: string,
  previousProblem: QualityProblem | null,
): string {
  const day = DateTime.fromISO(request.localDate, { zone: 'UTC' });
  const parts = [
    `Today is ${day.isValid ? day.toFormat('cccc d LLLL') : 'an ordinary day'}.`,
    `Theme: ${theme}.`,
  ];
  const name = greetingName(request.firstName);
  parts.push(name ? `Address the reader once by first name: ${name}.` : 'Do not use a name.');
  if (previousProblem)
    parts.push(`The previous draft was unusable (${previousProblem}); write a different, shorter one.`);
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
  } = options;

  /** One completion, retried on 429/5xx/timeouts within the deadline; budgets reserved before each call. */
  async function complete(messages: ChatMessage[], deadline: Date, counter: { requests: number }) {
    const estimate = estimatePromptTokens(messages) + maxOutputTokens;
    for (let attempt = 0; ; attempt++) {
      const budgetDeadline = new Date(Math.min(deadline.getTime(), clock.now().getTime() + budgetWaitMs));
      const request = await limiter.waitForTurn('openai_requests', limiterKey, budgetDeadline, 1);
      if (!request.allowed) throw new ModelUnavailable('request_budget');
      const tokens = await limiter.reserve('openai_tokens', limiterKey, estimate, budgetDeadline);
      if (!tokens.allowed) {
        await limiter.refund('openai_requests', limiterKey, 1);
        throw new ModelUnavailable('token_budget');
      }
      const timeout = Math.min(requestTimeoutMs, deadline.getTime() - clock.now().getTime());
      if (timeout <= 0) {
        await tokens.settle(0);
        throw new ModelUnavailable('deadline');
      }
      counter.requests += 1;
      try {
        const res = await client.chat.completions.create(
          { model, messages, max_completion_tokens: maxOutputTokens, temperature: 1, n: 1 },
          { timeout, maxRetries: 0 },
        );
        const tokensIn = res.usage?.prompt_tokens ?? 0;
        const tokensOut = res.usage?.completion_tokens ?? 0;
        // The reservation was a guess: settle gives back what was not used, or records (never refuses)
        // what was used beyond it.
        await tokens.settle(res.usage?.total_tokens ?? estimate);
        const choice = res.choices[0];
        return {
          content: choice?.message?.content ?? '',
          truncated: choice?.finish_reason === 'length',
          tokensIn,
          tokensOut,
        } satisfies Completion;
      } catch (err) {
        const retry = classify(err);
        // A rejected or never-answered call used no tokens; a timed-out one may have, so keep that reservation.
        await tokens.settle(err instanceof OpenAI.APIConnectionTimeoutError ? estimate : 0);
        if (retry.kind === 'fatal') throw new ModelUnavailable(retry.reason);
        const wait = retry.retryAfterMs ?? backoffDelay(attempt, random, backoff);
        const remaining = deadline.getTime() - clock.now().getTime();
        if (attempt >= maxRetries || wait + 500 >= remaining) throw new ModelUnavailable('deadline');
        logger.warn('openai call failed; retrying', { status: retry.status, attempt, waitMs: wait });
        await sleep(wait);
      }
    }
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
    logger.error('openai call failed and will not be retried', {
      error: err instanceof Error ? err.message : String(err),
    });
    return { kind: 'fatal', reason: 'error' };
  }

  return {
    async write(request: WriteRequest, deadline: Date): Promise<WrittenMessage> {
      const counter = { requests: 0 };
      let tokensIn = 0;
      let tokensOut = 0;
      let problem: QualityProblem | null = null;
      const theme = THEMES[Math.floor(random() * THEMES.length)] ?? 'kindness';
      try {
        for (let generation = 0; generation < MAX_GENERATIONS; generation++) {
          const messages: ChatMessage[] = [
            { role: 'system', content: SYSTEM_PROMPT },
            { role: 'user', content: buildUserPrompt(request, theme, problem) },
          ];
          const completion = await complete(messages, deadline, counter);
          tokensIn += completion.tokensIn;
          tokensOut += completion.tokensOut;
          const body = unwrapModelOutput(completion.content);
          const verdict = completion.truncated
            ? ({ ok: false, problem: 'too_long' } as const)
            : checkMessage(body, request.recent);
          if (verdict.ok) {
            return { body, model, tokensIn, tokensOut, requests: counter.requests, fallback: false };
          }
          problem = verdict.problem;
          logger.warn('openai output rejected', { problem, generation });
        }
      } catch (err) {
        // Whatever went wrong (even a limiter store outage), the subscriber still gets a message on time.
        const reason = err instanceof ModelUnavailable ? err.reason : 'unexpected';
        if (!(err instanceof ModelUnavailable)) {
          logger.error('openai writer failed unexpectedly', {
            error: err instanceof Error ? err.message : String(err),
          });
        }
        logger.warn('using the curated fallback', { reason });
      }
      const curated = await fallback.write(request, deadline);
      return { ...curated, tokensIn, tokensOut, requests: counter.requests, fallback: true };
    },
  };
}
