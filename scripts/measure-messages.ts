// Measures the OpenAI writer against an msw-mocked model that answers like gpt-4o-mini does in practice:
// mostly clean one-liners, some with emoji, curly quotes or dashes, some too long, wrapped in quotes,
// or an assistant preamble. Prints tokens per message, single-segment share, fallback rate and cost.
// Usage: npx tsx scripts/measure-messages.ts [generations=300] [seed=42]
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import OpenAI from 'openai';
import { createCuratedWriter } from '../src/adapters/curated-writer.js';
import { createOpenAiWriter } from '../src/adapters/openai-writer.js';
import { loadConfig } from '../src/config.js';
import { estimateCost, pricesFromConfig } from '../src/domain/cost.js';
import { CURATED_MESSAGES } from '../src/domain/curated-messages.js';
import { countSegments, isSingleGsmSegment } from '../src/domain/gsm.js';
import type { RateLimiter } from '../src/services/ports.js';

const generations = Number(process.argv[2] ?? 300);
const seed = Number(process.argv[3] ?? 42);
if (!Number.isInteger(generations) || generations < 1 || !Number.isInteger(seed)) {
  console.error('usage: npx tsx scripts/measure-messages.ts [generations (integer ≥ 1)] [seed (integer)]');
  process.exit(2);
}

// Deterministic PRNG (mulberry32) so a run can be repeated exactly.
function mulberry32(a: number) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const OPENERS = [
  'Take a moment this afternoon to',
  'Today is a good day to',
  'If you can, step outside and',
  'Give yourself permission to',
  'Here is a small challenge:',
  'Before the day slips by,',
  'Whatever else happens today,',
  'On your next break,',
];
const MIDDLES = [
  'notice the way the light falls across the street',
  'send a kind word to someone who made you laugh this year',
  'enjoy a warm drink slowly, with your phone face down',
  'take the long way home and look up at the trees',
  'write down one thing that went right this week',
  'stretch your arms high and take three slow breaths',
  'tidy one small corner and enjoy how fresh it feels',
  'listen to a song you loved years ago, all the way through',
  'thank someone for a small thing they always do',
  'let one task wait while you rest for five minutes',
];
const CLOSERS = [
  'You deserve that small joy.',
  'Little moments like this add up.',
  'You are doing better than you think.',
  'Small kindnesses travel far.',
  'That counts as a win today.',
  'Your afternoon will feel lighter for it.',
];
const EMOJI = ['🌞', '🌻', '✨', '💛', '😊', '🍂', '☕'];

/** One realistic completion. Shares roughly follow what a prompted gpt-4o-mini returns. */
function modelOutput(name: string | null): string {
  const core = `${pick(OPENERS)} ${pick(MIDDLES)}. ${pick(CLOSERS)}`;
  const named = name && rand() < 0.8 ? `${name}, ${core.charAt(0).toLowerCase()}${core.slice(1)}` : core;
  const r = rand();
  if (r < 0.6) return named; // clean
  if (r < 0.75) return `${named} ${pick(EMOJI)}`; // trailing emoji
  if (r < 0.83)
    return named
      .replace('. ', ' — ')
      .replace(/^(.*)$/, '“$1”')
      .replace("'", '’'); // typography
  if (r < 0.9) return `${named} ${pick(CLOSERS)} ${pick(MIDDLES)}, and ${pick(MIDDLES)}.`; // too long
  if (r < 0.95) return `"${named}"`; // wrapped in quotes
  if (r < 0.98) return `Sure! Here's your message: ${named}`; // assistant preamble
  return "I'm sorry, but I can't help with that request."; // refusal
}

/** Token estimate in the spirit of cl100k/o200k on English: one per word or punctuation mark. */
const tokens = (text: string) => (text.match(/[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]/g) ?? []).length;

const raw = { total: 0, singleSegment: 0 };
const server = setupServer(
  http.post('https://api.openai.com/v1/chat/completions', async ({ request }) => {
    const body = (await request.json()) as { messages: { content: string }[] };
    const user = body.messages[1]?.content ?? '';
    const name = /first name: ([^.]+)\./.exec(user)?.[1] ?? null;
    const content = modelOutput(name);
    raw.total += 1;
    if (isSingleGsmSegment(content)) raw.singleSegment += 1;
    const prompt_tokens = 3 + body.messages.reduce((n, m) => n + 4 + tokens(m.content), 0);
    const completion_tokens = tokens(content) + 1;
    return HttpResponse.json({
      id: 'chatcmpl-measure',
      object: 'chat.completion',
      created: 1_764_000_000,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    });
  }),
);
server.listen({ onUnhandledRequest: 'error' });

const unlimited: RateLimiter = {
  consume: async () => ({ allowed: true, remaining: 1 }),
  waitForTurn: async () => ({ allowed: true, remaining: 1 }),
  refund: async () => {},
  reserve: async () => ({ allowed: true, remaining: 1, settle: async () => {} }),
};
const config = loadConfig({ ...process.env, LOG_LEVEL: 'SILENT' });
const writer = createOpenAiWriter({
  client: new OpenAI({ apiKey: 'sk-measure-0000000000000000000000', maxRetries: 0 }),
  model: config.OPENAI_MODEL,
  limiter: unlimited,
  fallback: createCuratedWriter({ random: rand }),
  random: rand,
});

const names = ['Ana', 'Sam', 'Priya', 'Jordan', null, null];
let tokensIn = 0;
let tokensOut = 0;
let requests = 0;
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
  if (m.fallback) fallbacks += 1;
  if (!m.fallback && m.requests === 1) firstTry += 1;
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
  `messages written              ${generations} (${requests} model requests, ${(requests / generations).toFixed(2)} per message)`,
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
