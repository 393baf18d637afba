// Estimated spend: OpenAI tokens × the model's price per million tokens, plus SMS segments × the price of
// one segment. Prices come from config (OPENAI_PRICE_*_PER_MTOK_USD, SMS_PRICE_PER_SEGMENT_USD).

export interface Prices {
  inputPerMTokUSD: number;
  outputPerMTokUSD: number;
  perSegmentUSD: number;
}

export interface Usage {
  tokensIn: number;
  tokensOut: number;
  segments: number;
}

export interface CostBreakdown {
  openaiUSD: number;
  smsUSD: number;
  totalUSD: number;
}

/** Money is stored as numeric(·, 6): round to micro-dollars so sums in SQL and here agree. */
export function roundUSD(amount: number): number {
  return Math.round(amount * 1_000_000) / 1_000_000;
}

/** The price settings (src/config.ts validates them). */
export interface PriceSettings {
  OPENAI_PRICE_INPUT_PER_MTOK_USD: number;
  OPENAI_PRICE_OUTPUT_PER_MTOK_USD: number;
  SMS_PRICE_PER_SEGMENT_USD: number;
}

export function pricesFromConfig(config: PriceSettings): Prices {
  return {
    inputPerMTokUSD: config.OPENAI_PRICE_INPUT_PER_MTOK_USD,
    outputPerMTokUSD: config.OPENAI_PRICE_OUTPUT_PER_MTOK_USD,
    perSegmentUSD: config.SMS_PRICE_PER_SEGMENT_USD,
  };
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number ≥ 0`);
  return value;
}

export function estimateCost(usage: Usage, prices: Prices): CostBreakdown {
  const openai =
    (count('tokensIn', usage.tokensIn) * prices.inputPerMTokUSD +
      count('tokensOut', usage.tokensOut) * prices.outputPerMTokUSD) /
    1_000_000;
  const sms = count('segments', usage.segments) * prices.perSegmentUSD;
  return { openaiUSD: roundUSD(openai), smsUSD: roundUSD(sms), totalUSD: roundUSD(openai + sms) };
}

/** True once today's spend has reached the daily cap (the sender then skips with reason `cost_cap`). */
export function isOverCostCap(spentUSD: number, limitUSD: number): boolean {
  return spentUSD >= limitUSD;
}
