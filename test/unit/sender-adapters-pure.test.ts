import { describe, expect, it } from 'vitest';
import { validityPeriodSeconds } from '../../src/adapters/twilio-sms.js';
import { backoffDelay, parseRetryAfter } from '../../src/domain/backoff.js';
import { estimateCost } from '../../src/domain/cost.js';

const now = new Date('2026-11-25T18:00:00Z');

describe('validityPeriodSeconds', () => {
  it.each([
    [undefined, null],
    ['2026-11-25T22:00:00Z', 14_400],
    ['2026-11-25T18:00:00.200Z', 1],
    ['2026-11-25T17:00:00Z', 1],
    ['2026-11-26T18:00:00Z', 36_000],
  ])('window end %s → %s s', (end, expected) => {
    expect(validityPeriodSeconds(end ? new Date(end) : undefined, now)).toBe(expected);
  });
});

describe('backoff', () => {
  it.each([
    [0, 1, 299],
    [1, 1, 599],
    [5, 1, 3999],
    [3, 0, 0],
  ])('attempt %i with random %f waits %i ms', (attempt, r, ms) => {
    expect(backoffDelay(attempt, () => Math.min(r, 0.9999), { baseMs: 300, capMs: 4000 })).toBe(ms);
  });

  it.each([
    [{ retryAfter: '2' }, 2000],
    [{ retryAfterMs: '150', retryAfter: '2' }, 150],
    [{ retryAfter: 'Wed, 25 Nov 2026 18:00:05 GMT' }, 5000],
    [{ retryAfter: 'soon' }, null],
    [{}, null],
  ])('Retry-After %j → %s ms', (headers, ms) => {
    expect(parseRetryAfter(headers, now)).toBe(ms);
  });
});

it('estimates a message cost from tokens and segments', () => {
  const prices = { inputPerMTokUSD: 0.15, outputPerMTokUSD: 0.6, perSegmentUSD: 0.0083 };
  expect(estimateCost({ tokensIn: 1_000_000, tokensOut: 0, segments: 0 }, prices).totalUSD).toBe(0.15);
  expect(estimateCost({ tokensIn: 131, tokensOut: 29, segments: 1 }, prices).totalUSD).toBe(0.008337);
});
