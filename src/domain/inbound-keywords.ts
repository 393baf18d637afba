// What an inbound SMS asks for: opt out, opt in, help, or nothing we act on. Whole-message keywords
// follow Twilio's standard lists (Advanced Opt-Out answers exactly those itself); longer texts are checked
// for clear revocation wording, because the FCC's 2024 TCPA rule lets consumers revoke consent "by any
// reasonable means". Decisions on ambiguous phrases are listed in docs/webhooks.md.

/** How an inbound text is classified (stored as inbound_messages.classification). */
export type InboundKind = 'opt_out' | 'opt_in' | 'help' | 'other';
type KeywordKind = Exclude<InboundKind, 'other'>;

/** Twilio's standard keywords. */
export const STANDARD_KEYWORDS = {
  opt_out: ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'],
  opt_in: ['START', 'YES', 'UNSTOP'],
  help: ['HELP', 'INFO'],
} as const satisfies Record<KeywordKind, readonly string[]>;

export interface InboundMatch {
  kind: InboundKind;
  /**
   * The standard keyword when the message is exactly one (trimmed, any case), as Twilio matches them;
   * else null. Twilio's keyword handling may already have answered these; anything else needs our reply.
   */
  keyword: string | null;
}

const KEYWORD_KIND = new Map<string, KeywordKind>(
  Object.entries(STANDARD_KEYWORDS).flatMap(([kind, words]) =>
    words.map((w) => [w, kind as KeywordKind] as const),
  ),
);

/** Words that add politeness or emphasis but no meaning to a one-keyword message ("stop please"). */
const FILLER = new Set([
  'please',
  'pls',
  'plz',
  'now',
  'thanks',
  'thank',
  'you',
  'thx',
  'ty',
  'ok',
  'okay',
  'just',
  'me',
  'it',
  'already',
  'asap',
  'right',
  'away',
  'hi',
  'hello',
  'hey',
  'again',
  'all',
]);

const CONTACT =
  '(?:text|texting|texts|txt|txts|txting|message|messaging|messages|msg|msgs|sms|contact|contacting|sending|send|spamming|spam)';

interface Revocation {
  pattern: RegExp;
  /** False when the pattern carries its own negation ("don't text me"). */
  negatable: boolean;
}

// Longer texts that clearly revoke consent, matched on lower-case text with straight apostrophes.
const REVOCATIONS: Revocation[] = [
  // "stop texting me", "please stop sending these", "quit messaging me", "cease contacting me"
  {
    pattern: new RegExp(
      `\\b(?:stop|quit|cease|end)\\s+(?:(?:all|these|those|the|this|your|ur|with|sending|me)\\s+)*${CONTACT}\\b`,
      'g',
    ),
    negatable: true,
  },
  // "unsubscribe me", "I want to unsubscribe", "how do I opt out", "opt me out"
  { pattern: /\b(?:unsubscribe|unsub|optout|opt[\s-]*out|opt\s+me\s+out)\b/g, negatable: true },
  // "I revoke my consent"
  { pattern: /\brevoke\b/g, negatable: true },
  // "remove me from this list", "take me off your list", "delete my number"
  { pattern: /\b(?:remove|take|delete|drop)\s+(?:me|my\s+(?:number|phone|#))\b/g, negatable: true },
  // "don't text me", "do not message me anymore", "never text me again"
  {
    pattern: new RegExp(
      `\\b(?:don't|dont|do\\s+not|never)\\s+(?:ever\\s+)?${CONTACT}\\s+(?:me|this\\s+number)\\b`,
      'g',
    ),
    negatable: false,
  },
  // "no more texts", "no more messages please"
  { pattern: new RegExp(`\\bno\\s+more\\s+${CONTACT}\\b`, 'g'), negatable: false },
  // "cancel my subscription", "end this service", "stop the messages"
  {
    pattern:
      /\b(?:cancel|end|stop|quit)\s+(?:my|the|this|these)\s+(?:subscription|service|membership|messages?|texts?)\b/g,
    negatable: true,
  },
  // "leave me alone"
  { pattern: /\bleave\s+me\s+alone\b/g, negatable: true },
  // "I want to stop", "I'd like to quit", "I wish to cancel" (at the end of a sentence)
  {
    pattern: /\b(?:want|wanna|like|wish|need)\s+(?:to\s+)?(?:stop|quit|cancel|end)(?=\s*(?:$|[.!,;?]))/g,
    negatable: true,
  },
];

// A negation just before the trigger turns it into its opposite ("don't stop!", "never stop texting me").
const NEGATION_BEFORE =
  /\b(?:don't|dont|do\s+not|never|not|won't|wont|can't|cant|cannot|couldn't|shouldn't)\s+(?:ever\s+|please\s+)?$/;

function normalize(text: string): string {
  return text
    .replace(/[\u2018\u2019\u02BC\u0060\u00B4]/g, "'")
    .toLowerCase()
    .replace(/\s+/g, ' ');
}

/** Surrounding whitespace, punctuation and symbols (emoji too) removed; upper-case. */
function stripEdges(text: string): string {
  return text.replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, '').toUpperCase();
}

/** " STOP! ", "Stop.", "stop all", "OPT-OUT", "😀 yes 😀": one keyword, perhaps written in two parts. */
function wholeMessageKeyword(text: string): string | null {
  const stripped = stripEdges(text);
  if (!/^[A-Z]+(?:[\s\-_.]+[A-Z]+)?$/.test(stripped)) return null;
  const compact = stripped.replace(/[\s\-_.]+/g, '');
  return KEYWORD_KIND.has(compact) ? compact : null;
}

/** "stop please", "please STOP now", "YES please!", "stop stop": one keyword plus filler words only. */
function keywordWithFiller(text: string): string | null {
  const words = normalize(text)
    .split(/[^\p{L}\p{N}']+/u)
    .filter(Boolean);
  if (words.length === 0 || words.length > 6) return null;
  const meaningful = new Set(words.filter((w) => !FILLER.has(w)));
  if (meaningful.size !== 1) return null;
  const word = [...meaningful][0]?.toUpperCase() ?? '';
  return KEYWORD_KIND.has(word) ? word : null;
}

function hasRevocationWording(text: string): boolean {
  const lower = normalize(text);
  for (const { pattern, negatable } of REVOCATIONS) {
    for (const match of lower.matchAll(pattern)) {
      if (!negatable || !NEGATION_BEFORE.test(lower.slice(0, match.index))) return true;
    }
  }
  // A sentence of its own that is an opt-out keyword: "STOP. I never signed up for this."
  return lower
    .split(/[.!?;\n]+/)
    .some((sentence) => KEYWORD_KIND.get(keywordWithFiller(sentence) ?? '') === 'opt_out');
}

/** Classifies an inbound SMS and says whether it was exactly one of Twilio's standard keywords. */
export function matchInbound(body: string | null | undefined): InboundMatch {
  const text = body ?? '';
  const exact = text.trim().toUpperCase();
  if (KEYWORD_KIND.has(exact)) return { kind: KEYWORD_KIND.get(exact) as KeywordKind, keyword: exact };
  const word = wholeMessageKeyword(text) ?? keywordWithFiller(text);
  if (word) return { kind: KEYWORD_KIND.get(word) as KeywordKind, keyword: null };
  if (hasRevocationWording(text)) return { kind: 'opt_out', keyword: null };
  return { kind: 'other', keyword: null };
}

export function classifyInbound(body: string | null | undefined): InboundKind {
  return matchInbound(body).kind;
}
