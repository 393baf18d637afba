import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  checkMessage,
  comparisonKey,
  GUARD_RULES,
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
    ['Remember to take your medication and see your doctor today.', 'medical'],
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

// The content guard: what a model really writes when it drifts (each row a plausible gpt-4o-mini draft),
// next to near-misses that use the same words harmlessly and must still go out.
describe('checkMessage: the content guard', () => {
  it.each([
    // contact details
    ['Questions or ideas? Write to joy@dailypositivity.com and share your win today.', 'email'],
    ['Share your small win with us at hello (at) brightday.org and smile!', 'email'],
    ['Save this for later: sunshine.club has more ideas for your afternoon.', 'link'],
    // SHAFT: sex, hate, alcohol, firearms, tobacco (and drugs)
    ['Ana, tonight light a candle, put on something sexy and enjoy feeling wonderful.', 'sexual'],
    ['Treat yourself to a cold beer after work today, Sam. You earned it!', 'alcohol'],
    ['Pour a glass of wine, kick off your shoes and let this evening be slow.', 'alcohol'],
    ['Celebrate the small wins today: happy hour with friends is calling your name!', 'alcohol'],
    ['Head to the shooting range this afternoon and let off some steam, Jordan.', 'firearms'],
    ['Enjoy a quiet cigar on the porch and watch the afternoon light fade.', 'tobacco'],
    ['Take a smoke break in the sun and give yourself five calm minutes.', 'tobacco'],
    ['Unwind tonight with a little CBD and your favourite comfy blanket.', 'drugs'],
    ['Stand tall today. Those people who hate immigrants will never win.', 'hate'],
    // advice nobody checked
    ['Try skipping lunch today: a little fasting can clear your head and lift your mood.', 'medical'],
    ['A daily vitamin D supplement might be the boost your afternoon needs, Priya.', 'medical'],
    ['Feeling anxious? A few deep breaths can calm anxiety better than you think.', 'medical'],
    ['Put a little aside today: investing in stocks early makes tomorrow brighter.', 'financial'],
    ['Small steps count: paying down one credit card this month is a real win.', 'financial'],
    ['Bitcoin or not, today is a great day to believe in your own future.', 'financial'],
    ['If today feels too heavy, please call the 988 hotline. You matter to us.', 'crisis'],
    ['Your mental health matters, Zoe. Seek help if the days start to feel grey.', 'crisis'],
    ['Even on the darkest days, never think about ending your life. You are loved.', 'crisis'],
    // asks for a reply
    ['What is one small thing that made you smile today?', 'question'],
    ['Sam, what song always lifts your mood? ', 'question'],
    ['Reply with one word that describes your afternoon and we will cheer you on!', 'question'],
    ['Tell us your small win today. We love hearing from you, Ana.', 'question'],
    ['What is one small thing you are proud of today? We would love to hear it.', 'question'],
    ['Name one good moment from this week and share it with us before tonight.', 'question'],
  ])('%j → %s', (body, problem) => {
    expect(checkMessage(body, [])).toEqual({ ok: false, problem });
  });

  it.each([
    // "Cheers" alone is a thank-you or a toast with nothing in the glass: no alcohol named, so it passes.
    'Cheers to you, Ana! Every small step this week counted, and today is another one.',
    'Take stock of one good thing today: a warm drink, a kind word, a quiet minute.',
    'You are killing it this week. Give yourself a high five before dinner.',
    'Give that new hobby a shot this afternoon. Beginners get to have the most fun.',
    'Shoot a friend a quick hello today. Small messages keep friendships warm.',
    'Lift your spirits with ten minutes outside. The afternoon light is worth it.',
    'Start a bullet journal page today with three things that went right.',
    'Pull a few weeds, water one plant, and enjoy how tidy the garden looks.',
    'Invest ten minutes in yourself today: a walk, a stretch, a song you love.',
    'A debt of gratitude is owed to the people who make you laugh. Thank one today.',
    'Raise the bar just a little today, then celebrate clearing it, Jordan.',
    'A dose of fresh air this afternoon can turn the whole day around.',
    'Feeling a bit flat? Step outside, look up, take three slow breaths.',
    'You are not alone in finding Mondays slow. Be gentle with yourself this afternoon.',
    'You are a treasure, and the people around you know it.',
    'Even if you hate Mondays, this one has a good afternoon waiting in it.',
    'Have a cup of tea and a biscuit, then tackle the next thing on your list.',
    'The smell of fresh toast, a favourite mug and an open window: simple joys.',
  ])('passes the near-miss %j', (body) => {
    expect(checkMessage(body, [])).toEqual({ ok: true });
  });

  it('names every rule once, each with a reason, and docs/content-safety.md lists each one', async () => {
    const rules = GUARD_RULES.map((r) => r.rule);
    expect(new Set(rules).size).toBe(rules.length);
    for (const r of GUARD_RULES) expect(r.why.length).toBeGreaterThan(10);
    const doc = await readFile(new URL('../../docs/content-safety.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` +\|/gm)].map((m) => m[1]);
    expect(documented).toEqual(rules);
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
