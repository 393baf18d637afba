// Messages: N bodies from the curated library and N from the real OpenAI writer against an msw-mocked
// model that answers like gpt-4o-mini does in practice (mostly clean one-liners; some with emoji, curly
// quotes or dashes, some too long, wrapped in quotes, with a preamble, or a refusal): the model stand-in in
// test/fixtures/realistic-model.ts. Measures single-GSM-7-segment share and tokens per message.
import { setupServer } from 'msw/node';
import OpenAI from 'openai';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { createOpenAiWriter } from '../../src/adapters/openai-writer.js';
import type { Config } from '../../src/config.js';
import { countSegments, isSingleGsmSegment } from '../../src/domain/gsm.js';
import { seededRandom } from '../../src/domain/slots.js';
import type { MessageWriter } from '../../src/services/ports.js';
import { realisticModelHandler, unlimitedLimiter } from '../../test/fixtures/realistic-model.js';
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
  };
  const recent: string[] = [];
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
    if (m.fallback) stats.fallbacks++;
    const c = countSegments(m.body);
    stats.segments += c.segments;
    if (c.encoding === 'GSM-7' && c.segments === 1) stats.singleSegment++;
    recent.unshift(m.body);
  }
  return stats;
}

export async function measureMessages(config: Config, count: number, seed = 42) {
  const rand = seededRandom(seed);
  const curated = await writeMany(createCuratedWriter({ random: rand }), count, rand);

  const raw = { outputs: 0, single: 0 };
  const server = setupServer(
    realisticModelHandler(rand, (content) => {
      raw.outputs++;
      if (isSingleGsmSegment(content)) raw.single++;
    }),
  );
  server.listen({ onUnhandledRequest: 'error' });
  let openai: MessageStats;
  try {
    const writer = createOpenAiWriter({
      client: new OpenAI({ apiKey: 'sk-bench-00000000000000000000000000', maxRetries: 0 }),
      model: config.OPENAI_MODEL,
      limiter: unlimitedLimiter,
      fallback: createCuratedWriter({ random: rand }),
      random: rand,
    });
    openai = await writeMany(writer, count, rand);
  } finally {
    server.close();
  }
  openai.rawOutputs = raw.outputs;
  openai.rawSingleSegment = raw.single;
  return { curated, openai };
}

export function messageRows(m: Awaited<ReturnType<typeof measureMessages>>): BenchRow[] {
  const pct = (s: MessageStats) => (100 * s.singleSegment) / s.messages;
  const { curated, openai } = m;
  const tokens = (openai.tokensIn + openai.tokensOut) / openai.messages;
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
      note: `${openai.requests} model requests (${(openai.requests / openai.messages).toFixed(2)} per message), ${openai.fallbacks} fell back to the library`,
    },
    {
      section: 'messages',
      metric: 'OpenAI writer: tokens per message',
      value: tokens,
      unit: 'tokens',
      target: { text: '≤ 250', met: tokens <= 250 },
      note: `${(openai.tokensIn / openai.messages).toFixed(1)} in + ${(openai.tokensOut / openai.messages).toFixed(1)} out, regenerations included`,
    },
  ];
}
