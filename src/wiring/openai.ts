// The OpenAI client, configured in this one place for the sender Lambda and npm start alike.
import OpenAI from 'openai';
import { type Credentials, freshValue, type OpenAiCredentials } from '../adapters/credentials.js';
import { createCuratedWriter } from '../adapters/curated-writer.js';
import { createOpenAiWriter } from '../adapters/openai-writer.js';
import type { Settings } from '../config.js';
import { OPENAI_CALLS } from '../domain/call-budgets.js';
import type { Clock, MessageWriter, RateLimiter } from '../services/ports.js';

/**
 * fetch that answers OpenAI's 401 (a rotated key) by re-reading the key and sending the request once more;
 * the client itself asks the credentials for the key before every request.
 */
function refreshingFetch(credentials: Credentials<OpenAiCredentials>, fetchImpl: typeof fetch): typeof fetch {
  return async (input, init) => {
    const used = await credentials.get();
    const response = await fetchImpl(input, init);
    if (response.status !== 401) return response;
    const fresh = await freshValue(credentials, used);
    if (fresh === null) return response;
    await response.body?.cancel();
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${fresh.apiKey}`);
    return fetchImpl(input, { ...init, headers });
  };
}

export function openAiClient(
  credentials: Credentials<OpenAiCredentials>,
  fetchImpl: typeof fetch = fetch,
  /** OPENAI_BASE_URL: a proxy, a regional endpoint or a compatible gateway; OpenAI's own when unset. */
  baseURL?: string,
): OpenAI {
  return new OpenAI({
    apiKey: async () => (await credentials.get()).apiKey,
    baseURL,
    fetch: refreshingFetch(credentials, fetchImpl),
    // Retries are the writer's (bounded by the deadline, honouring Retry-After), not the SDK's.
    maxRetries: 0,
    // Each call passes its own (the writer's, never past its deadline); this is the ceiling.
    timeout: OPENAI_CALLS.requestMs,
  });
}

/** The OpenAI writer, falling back to the curated library when OpenAI cannot write. */
export function openAiWriter(
  config: Pick<Settings, 'OPENAI_MODEL' | 'OPENAI_MODERATION' | 'OPENAI_BASE_URL'>,
  credentials: Credentials<OpenAiCredentials>,
  deps: { limiter: RateLimiter; clock?: Clock },
): MessageWriter {
  return createOpenAiWriter({
    client: openAiClient(credentials, fetch, config.OPENAI_BASE_URL),
    model: config.OPENAI_MODEL,
    limiter: deps.limiter,
    fallback: createCuratedWriter(),
    requestTimeoutMs: OPENAI_CALLS.requestMs,
    clock: deps.clock,
    moderation: config.OPENAI_MODERATION,
  });
}
