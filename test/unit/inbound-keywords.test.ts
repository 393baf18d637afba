import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyInbound, matchInbound, STANDARD_KEYWORDS } from '../../src/domain/inbound-keywords.js';

const variants = (word: string) => [
  word,
  word.toLowerCase(),
  word[0] + word.slice(1).toLowerCase(),
  `  ${word}  `,
  `\n${word.toLowerCase()}\t`,
  `${word}!`,
  `${word.toLowerCase()}.`,
  `"${word}"`,
  `...${word}?!`,
  `${word} 🙏`,
];

describe('standard keywords, whole message', () => {
  for (const [kind, words] of Object.entries(STANDARD_KEYWORDS)) {
    for (const word of words) {
      it.each(variants(word))(`classifies %j as ${kind}`, (body) => expect(classifyInbound(body)).toBe(kind));
    }
  }

  it('marks only an exact (trimmed, any case) keyword as standard, as Twilio matches them', () => {
    expect(matchInbound(' stop ')).toEqual({ kind: 'opt_out', keyword: 'STOP' });
    expect(matchInbound('Yes')).toEqual({ kind: 'opt_in', keyword: 'YES' });
    expect(matchInbound('STOP!')).toEqual({ kind: 'opt_out', keyword: null });
    expect(matchInbound('stop please')).toEqual({ kind: 'opt_out', keyword: null });
  });

  it('any casing plus surrounding spaces and punctuation keeps the keyword (property)', () => {
    const all = Object.entries(STANDARD_KEYWORDS).flatMap(([kind, words]) =>
      words.map((w) => [w, kind] as const),
    );
    const edge = fc.array(
      fc.constantFrom(' ', '\t', '\n', '.', '!', '?', ',', '"', "'", '*', '(', ')', '-'),
      {
        maxLength: 4,
      },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...all),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        edge,
        edge,
        ([word, kind], upper, before, after) => {
          const cased = [...word].map((ch, i) => (upper[i] ? ch : ch.toLowerCase())).join('');
          expect(classifyInbound(`${before.join('')}${cased}${after.join('')}`)).toBe(kind);
        },
      ),
    );
  });

  it.each([
    ['stop all', 'opt_out'],
    ['Opt-Out', 'opt_out'],
    ['opt out', 'opt_out'],
    ['un stop', 'opt_in'],
    ['stop please', 'opt_out'],
    ['Please STOP now!!', 'opt_out'],
    ['stop it', 'opt_out'],
    ['STOP STOP STOP', 'opt_out'],
    ['yes please!', 'opt_in'],
    ['help me', 'help'],
    ['info pls', 'help'],
  ])('accepts a keyword written apart or with filler: %j → %s', (body, kind) =>
    expect(classifyInbound(body)).toBe(kind),
  );
});

describe('opt-out wording in longer texts (FCC revocation rule)', () => {
  it.each([
    'Please stop texting me',
    'stop sending me these messages',
    'Can you stop messaging me?',
    'unsubscribe me',
    'I want to unsubscribe',
    'How do I opt out of this?',
    'opt me out',
    'I revoke my consent to these texts',
    'Remove me from this list',
    'take me off your list please',
    'delete my number',
    "Don't text me anymore",
    'do not message me again',
    'Never text me again',
    'No more texts please',
    'cancel my subscription',
    'end this service',
    'leave me alone',
    'I want to stop.',
    'STOP. I never signed up for this',
    'Who is this? Stop',
    'quit texting me',
    'cease contacting me',
    'Stop Texting Me',
    'please stop the messages',
  ])('%j → opt_out', (body) => expect(matchInbound(body)).toEqual({ kind: 'opt_out', keyword: null }));
});

describe('false friends that must not opt out', () => {
  it.each([
    "don't stop!",
    'Dont stop',
    'please don’t stop sending these',
    'never stop texting me, I love these',
    "I can't stop smiling",
    "couldn't stop laughing at this one",
    'stop it, you are making me blush',
    'You can’t stop me from smiling today',
    'the end',
    'I finally quit smoking!',
    'I had to cancel my plans but this helped',
    'Thanks, this helps so much',
    'yes I needed that today',
    'Stop by anytime?',
    'what a way to end the week',
    'Helpful!',
    '',
    '   ',
    '😊',
  ])('%j → not opt_out', (body) => expect(classifyInbound(body)).not.toBe('opt_out'));

  it.each([
    ["don't stop!", 'other'],
    ['Thanks, this helps so much', 'other'],
    ['yes I needed that today', 'other'],
  ])('%j → %s', (body, kind) => expect(classifyInbound(body)).toBe(kind));
});
