// Whether a candidate daily message may be sent: one GSM-7 segment, fresh for this subscriber, plainly a
// kind note (not a refusal or an assistant preamble), and safe to put in front of anyone: no contact
// details, nothing carriers filter on 10DLC (SHAFT: sex, hate, alcohol, firearms, tobacco, and drugs), no
// medical, financial or crisis advice, and nothing that asks for a reply. This is the local guard; OpenAI's
// moderation model runs after it (src/adapters/openai-writer.ts). docs/content-safety.md explains each rule.
import { isGsm7, isSingleGsmSegment, normalizeForSms } from './gsm.js';

const RECENT_MESSAGES_CHECKED = 30;
/** Shorter than this is not a message anyone would be glad to get. */
const MIN_MESSAGE_LENGTH = 20;

/** The content rules, in the order they are checked (the first one that matches names the problem). */
export const GUARD_RULES = [
  {
    rule: 'refusal',
    why: 'the model declined or talked about itself',
    pattern:
      /\b(i'?m sorry|i am sorry|i can'?t|i cannot|i'?m unable|i am unable|as an ai|language model|openai|chatgpt)\b/i,
  },
  {
    rule: 'crisis',
    why: 'self-harm, suicide or crisis wording: no automated text should touch it',
    pattern:
      /\b(suicid\w*|kill (yourself|myself)|self[- ]?harm\w*|hurt(ing)? yourself|end(ing)? (it all|your life)|take your (own )?life|want(s|ed)? to die|overdos\w*|crisis|hotline|988|911|emergency services|depress\w*|mental health|seek (professional )?help|talk to a professional|abus(e|ed|ive))\b/i,
  },
  {
    rule: 'sexual',
    why: 'SHAFT: sexual content',
    pattern:
      /\b(sex|sexy|sexual\w*|sexting|nudes?|naked|porn\w*|erotic\w*|orgasm\w*|horny|kinky|lingerie|hook ?ups?|one[- ]night stand|make love|making love|seduc\w*|foreplay|strip ?club|stripper)\b/i,
  },
  {
    rule: 'hate',
    why: 'SHAFT: hate (slurs are left to the moderation model)',
    pattern:
      /\b(subhuman|master race|supremac\w*|nazis?|white power|ethnic cleansing|kill (them )?all|(hate|despise) (all |those |these )?(people|immigrants|foreigners|gays?|jews|muslims|christians|women|men|blacks|whites)|go back to (your|their) (own )?country)\b/i,
  },
  {
    rule: 'alcohol',
    why: 'SHAFT: alcohol',
    pattern:
      /\b(alcohol\w*|beers?|wines?|winery|vodka|whiske?y|tequila|rum|gin|cocktails?|booze|boozy|drunk|tipsy|hangover|margaritas?|champagne|prosecco|sangria|mimosas?|liquor|brewery|pub crawl|happy hour|bartender)\b/i,
  },
  {
    rule: 'firearms',
    why: 'SHAFT: firearms and weapons',
    pattern:
      /\b(guns?|firearms?|rifles?|pistols?|handguns?|shotguns?|revolvers?|ammo|ammunition|glock|ar-?15|shooting range|weapons?)\b/i,
  },
  {
    rule: 'tobacco',
    why: 'SHAFT: tobacco and vaping',
    pattern:
      /\b(cigarettes?|cigars?|tobacco|nicotine|vap(e|es|ing)|e-?cigs?|hookah|juul|smoke break|have a smoke)\b/i,
  },
  {
    rule: 'drugs',
    why: 'cannabis and drugs (carriers filter them with SHAFT)',
    pattern: /\b(marijuana|cannabis|thc|cbd|drugs?|cocaine|heroin|meth|mdma|stoned|get(ting)? high)\b/i,
  },
  {
    rule: 'medical',
    why: 'health, diet or medication advice (the prompt rules it out; no one checks it is right)',
    pattern:
      /\b(doctor|medication|medicine|meds|pills?|dosage|diagnos\w*|therapy|therapist|symptoms?|prescription|vaccines?|disease|supplements?|vitamins?|diet(ing)?|calories|weight loss|lose weight|fasting|detox|cure|blood pressure|cholesterol|anxiety|antidepressants?)\b/i,
  },
  {
    rule: 'financial',
    why: 'money, investment or credit advice',
    pattern:
      /\b(invest(ing|ment)?s? (in )?(stocks?|crypto|bitcoin|shares|funds?|the market|real estate|gold)|stocks|stock (market|tips?)|crypto\w*|bitcoin|forex|day trading|portfolio|401\(?k\)?|credit (score|card)s?|payday|loans?|mortgage|debt(?! of gratitude)|get rich|passive income|financial advice|interest rates?)\b/i,
  },
  {
    rule: 'off_topic',
    why: 'assistant chatter, meta text about the message, or religion (the prompt rules it out)',
    pattern:
      /(^(sure|certainly|of course|here is|here's|absolutely)\b)|\b(message:|sms:|text message|character(s)? long|\d+ characters)|\b(god|gods|jesus|prayer|pray|praying|blessed|blessings|amen|church|lord|heaven|scripture)\b/i,
  },
  {
    rule: 'email',
    why: 'an e-mail address (contact details invite replies and phishing filters)',
    pattern: /[a-z0-9._%+-]+\s?(@|\(at\)|\[at\])\s?[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}/i,
  },
  {
    rule: 'link',
    why: 'a link or domain (carriers filter unexpected URLs)',
    pattern:
      /(https?:\/\/|www\.|\b[a-z0-9-]+\.(com|net|org|io|ly|co|app|me|info|biz|club|shop|online|site|xyz|us|link|page|life|fun|live)\b)/i,
  },
  {
    rule: 'phone_number',
    why: 'seven or more digits, with the separators people write phone numbers with',
    pattern: /\+?\d(?:[\s().-]*\d){6,}/,
  },
  {
    rule: 'question',
    why: 'ends on a question, or asks for a reply: the service does not answer, so it must not ask',
    // A question answered by what follows ("Feeling flat? Step outside.") is rhetorical and passes.
    pattern:
      /\?["')\s]*$|\b(reply|text (me|us) back|text back|write back|let (me|us) know|tell (me|us)|respond (to|with)|send (me|us)|(love|like|want) to hear (it|from you|about)|hear(ing)? from you|share (it |this |that )?with (me|us))\b/i,
  },
] as const satisfies readonly { rule: string; why: string; pattern: RegExp }[];

type GuardRule = (typeof GUARD_RULES)[number]['rule'];

type QualityProblem = 'empty' | 'too_short' | 'not_gsm' | 'too_long' | 'repeat' | GuardRule;

export type QualityVerdict = { ok: true } | { ok: false; problem: QualityProblem };

/**
 * Why a generated draft was not sent (recorded on the delivery, counted as a metric): a local guard rule,
 * OpenAI's moderation model (flagged, or not reachable to check), or the model itself (a refusal, its own
 * content filter).
 */
export type ReplacementReason =
  | `guard:${QualityProblem}`
  | 'moderation_flagged'
  | 'moderation_unavailable'
  | 'model_refusal'
  | 'content_filter';

/** Comparison form: case, punctuation and spacing do not make a message new. */
export function comparisonKey(text: string): string {
  return normalizeForSms(text)
    .toLowerCase()
    .replace(/[^a-z0-9 ]+/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Comparison keys of the messages that count as recent (the first 30, newest first). */
export function recentKeys(recent: readonly string[]): string[] {
  return recent
    .slice(0, RECENT_MESSAGES_CHECKED)
    .map(comparisonKey)
    .filter((k) => k !== '');
}

/** True when `key` (or `key` with a greeting in front, or the other way round) is one of `keys`. */
export function isRepeatOfKeys(key: string, keys: readonly string[]): boolean {
  if (key === '') return false;
  return keys.some((other) => other === key || other.endsWith(` ${key}`) || key.endsWith(` ${other}`));
}

/** True when `body` (or `body` with a greeting in front) is one of the recent messages. */
export function isRecentRepeat(body: string, recent: readonly string[]): boolean {
  return isRepeatOfKeys(comparisonKey(body), recentKeys(recent));
}

/**
 * Checks a candidate exactly as it would be sent (call normalizeForSms first). `recent` is the
 * subscriber's latest message bodies, newest first; only the first 30 count.
 */
export function checkMessage(candidate: string, recent: readonly string[]): QualityVerdict {
  const body = candidate.trim();
  if (body === '') return { ok: false, problem: 'empty' };
  if (body.length < MIN_MESSAGE_LENGTH) return { ok: false, problem: 'too_short' };
  if (!isGsm7(body)) return { ok: false, problem: 'not_gsm' };
  if (!isSingleGsmSegment(body)) return { ok: false, problem: 'too_long' };
  for (const { rule, pattern } of GUARD_RULES) {
    if (pattern.test(body)) return { ok: false, problem: rule };
  }
  if (isRecentRepeat(body, recent)) return { ok: false, problem: 'repeat' };
  return { ok: true };
}

/** Strips the wrapping quotes and labels models sometimes add around the one message asked for. */
export function unwrapModelOutput(text: string): string {
  let s = normalizeForSms(text);
  for (let i = 0; i < 2; i++) {
    const quoted = /^"(.*)"$/.exec(s) ?? /^'(.*)'$/.exec(s);
    if (quoted?.[1] !== undefined && !quoted[1].includes('"')) s = quoted[1].trim();
  }
  return s;
}
