// Estimated cost of one daily message: the model's tokens plus the SMS segments.

export interface Prices {
  inputPerMTokUsd: number;
  outputPerMTokUsd: number;
  smsPerSegmentUsd: number;
}

/** USD, rounded to the 6 decimals usage_daily and deliveries store. */
export function estimateMessageCost(
  usage: { tokensIn: number; tokensOut: number; segments: number },
  prices: Prices,
): number {
  const usd =
    (usage.tokensIn * prices.inputPerMTokUsd + usage.tokensOut * prices.outputPerMTokUsd) / 1_000_000 +
    usage.segments * prices.smsPerSegmentUsd;
  return Math.round(usd * 1_000_000) / 1_000_000;
}
