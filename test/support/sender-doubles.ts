// Test doubles for the sender: a RateLimiter that really counts (until the shared one lands, and to
// assert what was reserved and refunded), a fixed clock, and msw handlers that record OpenAI and
// Twilio requests exactly as they went over HTTP.
import { HttpResponse, http } from 'msw';
import type { BudgetName, Clock, LimitDecision, RateLimiter, Reservation } from '../../src/services/ports.js';
import { CHAT_COMPLETION, MODERATION_FLAGGED, MODERATION_PASSED } from '../fixtures/openai/responses.js';
import { reserveVia } from './limiter-reserve.js';

export const TWILIO_ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
export const TWILIO_AUTH_TOKEN = 'test-auth-token-0123456789abcdef';
export const OPENAI_API_KEY = 'sk-test-0123456789abcdefghijklmnop';
const OPENAI_URL = 'https://api.openai.com/v1/chat/completions';
const MODERATION_URL = 'https://api.openai.com/v1/moderations';
export const TWILIO_URL = `https://api.twilio.com/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages.json`;

export function fixedClock(iso: string): Clock & { set(iso: string): void } {
  let now = new Date(iso);
  return {
    now: () => new Date(now),
    set: (next: string) => {
      now = new Date(next);
    },
  };
}

export interface Limit {
  points: number;
  windowMs: number;
}

/**
 * Fixed-window limiter in memory. Windows run on real time (so waitForTurn can really wait) while
 * deadlines are judged by the injected clock, like the shared limiter will.
 */
export class CountingLimiter implements RateLimiter {
  readonly log: {
    op: 'consume' | 'refund';
    budget: BudgetName;
    key: string;
    points: number;
    allowed?: boolean;
  }[] = [];
  private readonly windows = new Map<string, { used: number; resetAt: number }>();

  constructor(
    private readonly limits: Partial<Record<BudgetName, Limit>> = {},
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  used(budget: BudgetName, key: string): number {
    const w = this.windows.get(`${budget}:${key}`);
    return w && w.resetAt > Date.now() ? w.used : 0;
  }

  async consume(budget: BudgetName, key: string, points = 1): Promise<LimitDecision> {
    const limit = this.limits[budget];
    if (!limit) {
      this.log.push({ op: 'consume', budget, key, points, allowed: true });
      return { allowed: true, remaining: Number.MAX_SAFE_INTEGER };
    }
    const id = `${budget}:${key}`;
    let w = this.windows.get(id);
    if (!w || w.resetAt <= Date.now()) {
      w = { used: 0, resetAt: Date.now() + limit.windowMs };
      this.windows.set(id, w);
    }
    const allowed = w.used + points <= limit.points;
    this.log.push({ op: 'consume', budget, key, points, allowed });
    if (!allowed) return { allowed: false, retryAfterMs: Math.max(1, w.resetAt - Date.now()) };
    w.used += points;
    return { allowed: true, remaining: limit.points - w.used };
  }

  async waitForTurn(budget: BudgetName, key: string, deadline: Date, points = 1): Promise<LimitDecision> {
    for (;;) {
      const decision = await this.consume(budget, key, points);
      if (decision.allowed) return decision;
      const left = deadline.getTime() - this.clock.now().getTime();
      if (decision.retryAfterMs > left || decision.retryAfterMs > 2_000) return decision;
      await new Promise((r) => setTimeout(r, decision.retryAfterMs));
    }
  }

  reserve(budget: BudgetName, key: string, estimate: number, deadline?: Date): Promise<Reservation> {
    return reserveVia(this, budget, key, estimate, deadline);
  }
  async refund(budget: BudgetName, key: string, points: number): Promise<void> {
    this.log.push({ op: 'refund', budget, key, points });
    const w = this.windows.get(`${budget}:${key}`);
    if (w) w.used = Math.max(0, w.used - points);
  }
}

// ── msw: OpenAI ────────────────────────────────────────────────────────────────────────────────────
export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: string }[];
  max_completion_tokens?: number;
  max_tokens?: number;
  [k: string]: unknown;
}

/** The recorded chat completion with another text, usage and finish reason (and optionally a refusal). */
export function chatCompletion(
  content: string | null,
  usage: { prompt_tokens: number; completion_tokens: number } = { prompt_tokens: 131, completion_tokens: 29 },
  finishReason: 'stop' | 'length' | 'content_filter' = 'stop',
  refusal: string | null = null,
) {
  const choice = CHAT_COMPLETION.choices[0];
  return HttpResponse.json({
    ...CHAT_COMPLETION,
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    choices: [{ ...choice, message: { ...choice?.message, content, refusal }, finish_reason: finishReason }],
    usage: {
      ...CHAT_COMPLETION.usage,
      ...usage,
      total_tokens: usage.prompt_tokens + usage.completion_tokens,
    },
  });
}

export function openAiError(status: number, code: string, headers: Record<string, string> = {}) {
  return HttpResponse.json(
    { error: { message: `mock ${status}`, type: 'server_error', code, param: null } },
    { status, headers },
  );
}

/** Handler that records each body and answers with the next reply in `replies` (the last one repeats). */
export function openAiHandler(
  seen: ChatRequestBody[],
  replies: ((body: ChatRequestBody) => Response | Promise<Response>)[],
) {
  return http.post(OPENAI_URL, async ({ request }) => {
    const body = (await request.json()) as ChatRequestBody;
    seen.push(body);
    const reply = replies[Math.min(seen.length - 1, replies.length - 1)];
    if (!reply) throw new Error('openAiHandler: no replies given');
    return reply(body);
  });
}

export interface ModerationRequestBody {
  model?: string;
  input: string | string[];
  [k: string]: unknown;
}

/** The recorded moderation answer, flagged or not. */
export function moderationResult(flagged: boolean) {
  return HttpResponse.json(flagged ? MODERATION_FLAGGED : MODERATION_PASSED);
}

/** Moderation handler: records each body, answers with the next reply (the last repeats; default: passed). */
export function moderationHandler(
  seen: ModerationRequestBody[] = [],
  replies: ((body: ModerationRequestBody) => Response | Promise<Response>)[] = [
    () => moderationResult(false),
  ],
) {
  return http.post(MODERATION_URL, async ({ request }) => {
    const body = (await request.json()) as ModerationRequestBody;
    seen.push(body);
    const reply = replies[Math.min(seen.length - 1, replies.length - 1)];
    if (!reply) throw new Error('moderationHandler: no replies given');
    return reply(body);
  });
}

// ── msw: Twilio ────────────────────────────────────────────────────────────────────────────────────
let sidCounter = 0;
export function twilioCreated(form: URLSearchParams, numSegments = '1') {
  sidCounter += 1;
  const sid = `SM${sidCounter.toString(16).padStart(32, '0')}`;
  return HttpResponse.json(
    {
      account_sid: TWILIO_ACCOUNT_SID,
      api_version: '2010-04-01',
      body: form.get('Body'),
      date_created: 'Wed, 25 Nov 2026 18:00:00 +0000',
      direction: 'outbound-api',
      from: form.get('From'),
      messaging_service_sid: form.get('MessagingServiceSid'),
      num_media: '0',
      num_segments: numSegments,
      sid,
      status: 'queued',
      to: form.get('To'),
      uri: `/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages/${sid}.json`,
    },
    { status: 201 },
  );
}

export function twilioError(status: number, code: number, message: string) {
  return HttpResponse.json(
    { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
    { status },
  );
}

export function twilioHandler(
  seen: URLSearchParams[],
  replies: ((form: URLSearchParams) => Response | Promise<Response>)[] = [(form) => twilioCreated(form)],
) {
  return http.post(TWILIO_URL, async ({ request }) => {
    const form = new URLSearchParams(await request.text());
    seen.push(form);
    const reply = replies[Math.min(seen.length - 1, replies.length - 1)];
    if (!reply) throw new Error('twilioHandler: no replies given');
    return reply(form);
  });
}
