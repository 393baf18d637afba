// Messages: N bodies from the curated library and N from the real OpenAI writer against an msw-mocked
// model that answers like gpt-4o-mini does in practice (mostly clean one-liners; some with emoji, curly
// quotes or dashes, some too long, wrapped in quotes, with a preamble, or a refusal): the model stand-in in
// test/fixtures/realistic-model.ts. Measures single-GSM-7-segment share and tokens per message, and what
// content safety costs: the share of generated drafts replaced (local guard and moderation), and the extra
// requests, tokens and local latency per message against the same writer without moderation (same seed).
import { setupServer } from 'msw/node';
import OpenAI from 'openai';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { createOpenAiWriter } from '../../src/adapters/openai-writer.js';
import type { Config } from '../../src/config.js';
import { estimateCost, type Prices } from '../../src/domain/cost.js';
import { countSegments, isSingleGsmSegment } from '../../src/domain/gsm.js';
import { seededRandom } from '../../src/domain/slots.js';
import type { MessageWriter } from '../../src/services/ports.js';
import {
  realisticModelHandler,
  realisticModerationHandler,
  unlimitedLimiter,
} from '../../test/fixtures/realistic-model.js';
import type { BenchRow } from './report.js';

export interface MessageStats {
  messages: number;
  singleSegment: number;
  /** Segments of every body, summed (what Twilio bills). */
  segments: number;
  tokensIn: number;
  tokensOut: number;
  requests: number;
  fallbacks: number;
  rawOutputs: number;
  rawSingleSegment: number;
  /** Of `requests`, moderation checks. */
  moderationRequests: number;
  /** Generated drafts discarded, by reason (guard:<rule>, moderation_flagged, …). */
  replaced: Record<string, number>;
  /** Wall time of all the writes. */
  elapsedMs: number;
  /** Of `elapsedMs`, time inside moderation calls. */
  moderationMs: number;
}

async function writeMany(writer: MessageWriter, count: number, rand: () => number): Promise<MessageStats> {
  const names = ['Ana', 'Sam', 'Priya', 'Jordan', 'Zoë', null, null];
  const stats: MessageStats = {
    messages: count,
    singleSegment: 0,
    segments: 0,
    tokensIn: 0,
    tokensOut: 0,
    requests: 0,
    fallbacks: 0,
    rawOutputs: 0,
    rawSingleSegment: 0,
    moderationRequests: 0,
    replaced: {},
    elapsedMs: 0,
    moderationMs: 0,
  };
  const recent: string[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const localDate = new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10);
    const name = names[Math.floor(rand() * names.length)] ?? null;
    const m = await writer.write(
      { firstName: name, recent: recent.slice(0, 30), localDate },
      new Date(Date.now() + 20_000),
    );
    stats.tokensIn += m.tokensIn;
    stats.tokensOut += m.tokensOut;
    stats.requests += m.requests ?? 0;
    stats.moderationRequests += m.moderationRequests ?? 0;
    for (const reason of m.replaced ?? []) stats.replaced[reason] = (stats.replaced[reason] ?? 0) + 1;
    if (m.fallback) stats.fallbacks++;
    const c = countSegments(m.body);
    stats.segments += c.segments;
    if (c.encoding === 'GSM-7' && c.segments === 1) stats.singleSegment++;
    recent.unshift(m.body);
  }
  stats.elapsedMs = performance.now() - started;
  return stats;
}

/** The OpenAI writer over the realistic model stand-in, from a fresh seeded random source. */
async function measureOpenAi(
  config: Config,
  count: number,
  seed: number,
  moderation: 'required' | 'off',
): Promise<MessageStats> {
  const rand = seededRandom(seed);
  const raw = { outputs: 0, single: 0 };
  const server = setupServer(
    realisticModelHandler(rand, (content) => {
      raw.outputs++;
      if (isSingleGsmSegment(content)) raw.single++;
    }),
    realisticModerationHandler(),
  );
  server.listen({ onUnhandledRequest: 'error' });
  try {
    const client = new OpenAI({ apiKey: 'sk-bench-00000000000000000000000000', maxRetries: 0 });
    // Time spent in moderation calls, measured around the SDK call the writer makes.
    let moderationMs = 0;
    const moderate = client.moderations.create.bind(client.moderations);
    client.moderations.create = ((...args: Parameters<typeof moderate>) => {
      const t = performance.now();
      const call = moderate(...args);
      void call.then(
        () => (moderationMs += performance.now() - t),
        () => (moderationMs += performance.now() - t),
      );
      return call;
    }) as typeof client.moderations.create;
    const writer = createOpenAiWriter({
      client,
      model: config.OPENAI_MODEL,
      limiter: unlimitedLimiter,
      // Its own random source, so a curated fallback in one run does not shift the other's draws.
      fallback: createCuratedWriter({ random: seededRandom(seed + 7) }),
      random: rand,
      moderation,
    });
    const stats = await writeMany(writer, count, rand);
    return { ...stats, rawOutputs: raw.outputs, rawSingleSegment: raw.single, moderationMs };
  } finally {
    server.close();
  }
}

export async function measureMessages(config: Config, count: number, seed = 42) {
  const curated = await writeMany(
    createCuratedWriter({ random: seededRandom(seed) }),
    count,
    seededRandom(seed),
  );
  // Warm-up (module loading, msw interception), so neither measured run pays for it.
  await measureOpenAi(config, Math.min(20, count), seed + 1, 'required');
  const unmoderated = await measureOpenAi(config, count, seed, 'off');
  const openai = await measureOpenAi(config, count, seed, 'required');
  return { curated, openai, unmoderated };
}

export function messageRows(m: Awaited<ReturnType<typeof measureMessages>>, prices: Prices): BenchRow[] {
  const pct = (s: MessageStats) => (100 * s.singleSegment) / s.messages;
  const { curated, openai, unmoderated } = m;
  const perMessage = (s: MessageStats, n: number) => n / s.messages;
  const tokens = (s: MessageStats) => perMessage(s, s.tokensIn + s.tokensOut);
  const drafts = openai.requests - openai.moderationRequests;
  const replacedDrafts = Object.values(openai.replaced).reduce((a, b) => a + b, 0);
  const byReason = Object.entries(openai.replaced)
    .sort(([, a], [, b]) => b - a)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const extraRequests = perMessage(openai, openai.requests) - perMessage(unmoderated, unmoderated.requests);
  const addedTokens = tokens(openai) - tokens(unmoderated);
  const costPerMessage = (s: MessageStats) =>
    estimateCost({ tokensIn: s.tokensIn, tokensOut: s.tokensOut, segments: 0 }, prices).totalUSD / s.messages;
  const addedCost = costPerMessage(openai) - costPerMessage(unmoderated);
  return [
    {
      section: 'messages',
      metric: `curated library: single GSM-7 segment (${curated.messages})`,
      value: pct(curated),
      unit: '%',
      target: { text: '100%', met: curated.singleSegment === curated.messages },
    },
    {
      section: 'messages',
      metric: `OpenAI writer (mock): single GSM-7 segment (${openai.messages})`,
      value: pct(openai),
      unit: '%',
      baseline: {
        label: 'raw model outputs',
        value: (100 * openai.rawSingleSegment) / openai.rawOutputs,
        unit: '%',
      },
      target: { text: '100%', met: openai.singleSegment === openai.messages },
      note: `${openai.requests} OpenAI requests (${(openai.requests / openai.messages).toFixed(2)} per message, ${openai.moderationRequests} of them moderation), ${openai.fallbacks} fell back to the library`,
    },
    {
      section: 'messages',
      metric: 'OpenAI writer: tokens per message',
      value: tokens(openai),
      unit: 'tokens',
      target: { text: '≤ 250', met: tokens(openai) <= 250 },
      note: `${(openai.tokensIn / openai.messages).toFixed(1)} in + ${(openai.tokensOut / openai.messages).toFixed(1)} out, regenerations included`,
    },
    {
      section: 'messages',
      metric: `content safety: generated drafts replaced (${drafts} drafts)`,
      value: (100 * replacedDrafts) / drafts,
      unit: '%',
      note: `by reason: ${byReason || 'none'}; ${openai.fallbacks} of ${openai.messages} messages sent curated (model stand-in: 2.5% guard bait, 0.5% moderation bait, plus form faults)`,
    },
    {
      section: 'messages',
      metric: 'content safety: extra OpenAI requests per message (moderation)',
      value: extraRequests,
      unit: 'requests',
      baseline: {
        label: 'same writer, no moderation',
        value: perMessage(unmoderated, unmoderated.requests),
        unit: 'requests',
      },
      target: { text: '≤ 1', met: extraRequests <= 1 },
      note: `${(openai.moderationRequests / openai.messages).toFixed(3)} moderation calls per message; the rest are regenerations of flagged drafts`,
    },
    {
      section: 'messages',
      metric: 'content safety: added tokens per message',
      value: addedTokens,
      unit: 'tokens',
      baseline: { label: 'same writer, no moderation', value: tokens(unmoderated), unit: 'tokens' },
      note: `moderation is free and reports no token usage; the difference is regenerating the drafts it flagged: ${(addedCost * 1_000_000).toFixed(2)} USD per million messages at the configured prices`,
    },
    {
      section: 'messages',
      metric: 'content safety: added latency per message (moderation calls, mock answers at once)',
      value: perMessage(openai, openai.moderationMs),
      unit: 'ms',
      baseline: {
        label: 'whole write, no moderation',
        value: perMessage(unmoderated, unmoderated.elapsedMs),
        unit: 'ms',
      },
      note: `local SDK + HTTP + JSON work only (whole write ${perMessage(openai, openai.elapsedMs).toFixed(1)} ms with moderation); in production add one moderation round trip per message, which cannot be measured offline`,
    },
  ];
}
