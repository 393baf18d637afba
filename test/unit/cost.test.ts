import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { estimateCost, isOverCostCap, pricesFromConfig } from '../../src/domain/cost.js';

const defaults = pricesFromConfig(loadConfig({}));

describe('estimateCost', () => {
  it.each([
    // tokensIn, tokensOut, segments → openai, sms, total (default prices: $0.15/$0.60 per Mtok, $0.0083/segment)
    [0, 0, 0, 0, 0, 0],
    [120, 60, 1, 0.000054, 0.0083, 0.008354],
    [1_000_000, 0, 0, 0.15, 0, 0.15],
    [0, 1_000_000, 2, 0.6, 0.0166, 0.6166],
  ])('%i in / %i out / %i segments', (tokensIn, tokensOut, segments, openaiUSD, smsUSD, totalUSD) => {
    expect(estimateCost({ tokensIn, tokensOut, segments }, defaults)).toEqual({
      openaiUSD,
      smsUSD,
      totalUSD,
    });
  });

  it('uses the configured prices', () => {
    const prices = pricesFromConfig(
      loadConfig({
        OPENAI_PRICE_INPUT_PER_MTOK_USD: '2.5',
        OPENAI_PRICE_OUTPUT_PER_MTOK_USD: '10',
        SMS_PRICE_PER_SEGMENT_USD: '0.05',
      }),
    );
    expect(estimateCost({ tokensIn: 400, tokensOut: 100, segments: 3 }, prices).totalUSD).toBe(0.152);
  });

  it('rejects negative or fractional counts', () => {
    expect(() => estimateCost({ tokensIn: -1, tokensOut: 0, segments: 0 }, defaults)).toThrow(/tokensIn/);
    expect(() => estimateCost({ tokensIn: 0, tokensOut: 0, segments: 1.5 }, defaults)).toThrow(/segments/);
  });

  it('never decreases when usage grows (property)', () => {
    const n = fc.integer({ min: 0, max: 5_000_000 });
    fc.assert(
      fc.property(n, n, fc.integer({ min: 0, max: 10 }), n, (a, b, s, extra) => {
        const base = estimateCost({ tokensIn: a, tokensOut: b, segments: s }, defaults).totalUSD;
        const more = estimateCost({ tokensIn: a + extra, tokensOut: b, segments: s + 1 }, defaults).totalUSD;
        return base >= 0 && more > base;
      }),
    );
  });
});

it.each([
  [9.99, 10, false],
  [10, 10, true],
  [0, 0, true],
])('isOverCostCap(%d, %d) = %s', (spent, limit, over) => expect(isOverCostCap(spent, limit)).toBe(over));
