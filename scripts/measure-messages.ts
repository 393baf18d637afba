// Measures the OpenAI writer against an msw-mocked model that answers like gpt-4o-mini does in practice:
// mostly clean one-liners, some with emoji, curly quotes or dashes, some too long, wrapped in quotes,
// or an assistant preamble. Prints tokens per message, single-segment share, fallback rate and cost.
// Usage: npx tsx scripts/measure-messages.ts [generations=300] [seed=42]
import { setupServer } from 'msw/node';
import OpenAI from 'openai';
import { createCuratedWriter } from '../src/adapters/curated-writer.js';
import { createOpenAiWriter } from '../src/adapters/openai-writer.js';
import { loadConfig } from '../src/config.js';
import { estimateCost, pricesFromConfig } from '../src/domain/cost.js';
import { CURATED_MESSAGES } from '../src/domain/curated-messages.js';
import { countSegments, isSingleGsmSegment } from '../src/domain/gsm.js';
import { seededRandom } from '../src/domain/slots.js';
import {
  realisticModelHandler,
  realisticModerationHandler,
  unlimitedLimiter,
} from '../test/fixtures/realistic-model.js';

const generations = Number(process.argv[2] ?? 300);
const seed = Number(process.argv[3] ?? 42);
if (!Number.isInteger(generations) || generations < 1 || !Number.isInteger(seed)) {
  console.error('usage: npx tsx scripts/measure-messages.ts [generations (integer ≥ 1)] [seed (integer)]');
  process.exit(2);
}

const rand = seededRandom(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const raw = { total: 0, singleSegment: 0 };
const server = setupServer(
  realisticModelHandler(rand, (content) => {
    raw.total += 1;
    if (isSingleGsmSegment(content)) raw.singleSegment += 1;
  }),
  realisticModerationHandler(),
);
server.listen({ onUnhandledRequest: 'error' });

const config = loadConfig({ ...process.env, LOG_LEVEL: 'SILENT' });
const writer = createOpenAiWriter({
  client: new OpenAI({ apiKey: 'sk-measure-0000000000000000000000', maxRetries: 0 }),
  model: config.OPENAI_MODEL,
  limiter: unlimitedLimiter,
  fallback: createCuratedWriter({ random: rand }),
  random: rand,
});

const names = ['Ana', 'Sam', 'Priya', 'Jordan', null, null];
let tokensIn = 0;
let tokensOut = 0;
let requests = 0;
let moderationRequests = 0;
const replaced: Record<string, number> = {};
let fallbacks = 0;
let singleSegment = 0;
let firstTry = 0;
const recent: string[] = [];
for (let i = 0; i < generations; i++) {
  const date = new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10);
  const m = await writer.write(
    { firstName: pick(names), recent: recent.slice(0, 30), localDate: date },
    new Date(Date.now() + 20_000),
  );
  tokensIn += m.tokensIn;
  tokensOut += m.tokensOut;
  requests += m.requests ?? 0;
  moderationRequests += m.moderationRequests ?? 0;
  for (const r of m.replaced ?? []) replaced[r] = (replaced[r] ?? 0) + 1;
  if (m.fallback) fallbacks += 1;
  if (!m.fallback && (m.replaced ?? []).length === 0) firstTry += 1;
  const c = countSegments(m.body);
  if (c.encoding === 'GSM-7' && c.segments === 1) singleSegment += 1;
  recent.unshift(m.body);
}
server.close();

const pct = (n: number, d: number) => `${((100 * n) / d).toFixed(1)}%`;
const perMsgIn = tokensIn / generations;
const perMsgOut = tokensOut / generations;
const prices = pricesFromConfig(config);
const openaiPer1000 =
  (perMsgIn * 1000 * prices.inputPerMTokUSD + perMsgOut * 1000 * prices.outputPerMTokUSD) / 1e6;
const totalPer1000 = estimateCost(
  { tokensIn: Math.round(perMsgIn * 1000), tokensOut: Math.round(perMsgOut * 1000), segments: 1000 },
  prices,
).totalUSD;

console.log(`model                         ${config.OPENAI_MODEL} (mocked with msw, seed ${seed})`);
console.log(
  `messages written              ${generations} (${requests} OpenAI requests, ${(requests / generations).toFixed(2)} per message, ${moderationRequests} of them moderation)`,
);
console.log(
  `drafts replaced, by reason    ${
    Object.entries(replaced)
      .map(([r, n]) => `${r}=${n}`)
      .join(' ') || 'none'
  }`,
);
console.log(
  `raw outputs single segment    ${raw.singleSegment}/${raw.total} = ${pct(raw.singleSegment, raw.total)} (before normalisation)`,
);
console.log(
  `model text used first try     ${firstTry}/${generations} = ${pct(firstTry, generations)} (normalised, passed every check)`,
);
console.log(
  `sent bodies single segment    ${singleSegment}/${generations} = ${pct(singleSegment, generations)}`,
);
console.log(`fell back to curated library  ${fallbacks}/${generations} = ${pct(fallbacks, generations)}`);
console.log(
  `tokens per message            ${perMsgIn.toFixed(1)} in + ${perMsgOut.toFixed(1)} out = ${(perMsgIn + perMsgOut).toFixed(1)}`,
);
console.log(
  `OpenAI cost per 1,000         $${openaiPer1000.toFixed(4)} (in $${prices.inputPerMTokUSD}/Mtok, out $${prices.outputPerMTokUSD}/Mtok)`,
);
console.log(
  `with SMS, per 1,000           $${totalPer1000.toFixed(4)} (+ 1,000 segments × $${prices.perSegmentUSD})`,
);
console.log(`curated fallback library      ${CURATED_MESSAGES.length} messages`);
