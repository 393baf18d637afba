import { describe, expect, it } from 'vitest';
import {
  checkMessage,
  comparisonKey,
  isRecentRepeat,
  unwrapModelOutput,
} from '../../src/domain/message-quality.js';

const GOOD = 'Take the long way home today and notice one tree you usually rush past. Small pauses add up.';

describe('checkMessage', () => {
  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['You rock!', 'too_short'],
    ['Have a wonderful afternoon 🌞 and enjoy it', 'not_gsm'],
    ['Keep going! '.repeat(14), 'too_long'],
    ["I'm sorry, but I can't write that message for you today.", 'refusal'],
    ['As an AI, I think you are doing a great job today.', 'refusal'],
    ["Sure! Here's a message: you are doing great today.", 'off_topic'],
    ['God has a plan for you today, keep your faith strong.', 'off_topic'],
    ['Remember to take your medication and see your doctor today.', 'off_topic'],
    ['Find more joy at www.example.com every single day!', 'link'],
    ['Read this lovely note: https://x.example/kind today', 'link'],
    ['Call us at +1 (415) 555-0100 for a dose of joy today!', 'phone_number'],
    [GOOD, null],
    ["You've got this: one small step at a time, and a cup of tea at 4.", null],
  ])('%j → %s', (body, problem) => {
    expect(checkMessage(body, [])).toEqual(problem ? { ok: false, problem } : { ok: true });
  });

  it('refuses a repeat of any of the last 30, ignoring case, punctuation and spacing', () => {
    expect(checkMessage(GOOD, [GOOD.toUpperCase().replace('.', '!')])).toEqual({
      ok: false,
      problem: 'repeat',
    });
    expect(checkMessage(GOOD, [`Hi Ana! ${GOOD}`])).toEqual({ ok: false, problem: 'repeat' });
    const thirtyOthers = Array.from({ length: 30 }, (_, i) => `Message number ${i} for you today`);
    expect(checkMessage(GOOD, [...thirtyOthers, GOOD])).toEqual({ ok: true }); // 31st back: allowed again
  });
});

describe('helpers', () => {
  it('builds comparison keys', () => {
    expect(comparisonKey('  It’s a GOOD day!! ')).toBe('its a good day');
  });
  it('spots greeted repeats both ways', () => {
    expect(isRecentRepeat(`Hi Sam! ${GOOD}`, [GOOD])).toBe(true);
    expect(isRecentRepeat('A different note altogether.', [GOOD])).toBe(false);
  });
  it.each([
    ['"You are doing great today."', 'You are doing great today.'],
    ['“You are doing great today.”', 'You are doing great today.'],
    ['"Say "hi" to a neighbour"', '"Say "hi" to a neighbour"'],
  ])('unwraps %j', (raw, expected) => {
    expect(unwrapModelOutput(raw)).toBe(expected);
  });
});
