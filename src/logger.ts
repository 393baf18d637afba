// The one logger: Powertools for AWS Lambda (JSON lines with level, service and correlation keys), used
// by Lambdas and one-machine mode alike. Privacy rules live in the JSON replacer every log line passes
// through, so a caller cannot forget them: phone numbers are masked to their last 4 digits, secret-named
// attributes and secret-looking values are redacted, and inbound message text appears only at DEBUG.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Settings } from './config.js';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
const LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'];

export const REDACTED = '[REDACTED]';
export const DEBUG_ONLY = '[omitted below DEBUG]';

/**
 * What may sit between the digits of a written number: spaces, dashes, dots and parentheses, also
 * URL-encoded ("+1 (415) 555-0117", "%2B1%20415%20555%200117", "%2B1%28415%29555.0117").
 */
const PHONE_SEPARATOR = String.raw`(?:[\s.()-]|%20|%28|%29|%2D|%2E)`;
/**
 * E.164-looking numbers: a + (or %2B, as in Twilio form bodies and encoded paths), then 7 to 15 digits, at
 * most four separators before each. A longer digit run is not a phone number and is left alone.
 */
const PHONE_PATTERN = new RegExp(
  String.raw`(?:\+|%2B)${PHONE_SEPARATOR}{0,4}[1-9](?:${PHONE_SEPARATOR}{0,4}\d){6,14}(?!\d)`,
  'gi',
);
/** Attribute names whose string value is a phone number even without a leading '+'. */
const PHONE_KEY = /(^|_)(phone|to|from|msisdn)$|Phone$|^(To|From)$/;
/** Attribute names whose value is a secret, whatever it looks like. */
const SECRET_KEY =
  /(auth_?token|api_?key|apikey|authorization|password|passwd|secret|cookie|signature|credential|^token$|access_?token|bearer)/i;
/** Secret-looking fragments inside any string: bearer/basic credentials, OpenAI keys, URL passwords. */
const SECRET_VALUE_PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@/\s]+@/gi, `$1${REDACTED}@`],
];
/** Attribute names that carry text a subscriber wrote (Twilio's inbound `Body`, our `inboundText`). */
const INBOUND_TEXT_KEY = /^(inboundText|inbound_text|Body|triggerText|trigger_text)$/;

/** Masks every E.164-looking number in a string, however written: "+1 (415) 555-0123" → "***0123". */
export function maskPhonesInText(text: string): string {
  return text.replace(PHONE_PATTERN, (found) => {
    // %XX escapes carry hex digits of their own ("%20"): drop them before reading the number's digits.
    const digits = found.replace(/%[0-9a-f]{2}/gi, '').replace(/\D/g, '');
    return `***${digits.slice(-4)}`;
  });
}

function redactSecretsInText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_VALUE_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Scrubs one string value for logging. */
export function scrubText(text: string): string {
  return maskPhonesInText(redactSecretsInText(text));
}

/**
 * JSON.stringify replacer applied by Powertools to every key/value of every log line (message, extra
 * attributes, appended keys, formatted errors). The level is read from the root object so text a
 * subscriber wrote is kept only on DEBUG lines.
 */
export function createPrivacyReplacer(): (key: string, value: unknown) => unknown {
  let lineLevel = 'INFO';
  return (key: string, value: unknown): unknown => {
    if (key === '' && value && typeof value === 'object' && 'level' in value) {
      lineLevel = String((value as { level: unknown }).level);
      return withScopedKeys(value as Record<string, unknown>);
    }
    if (key !== '' && SECRET_KEY.test(key) && value !== undefined && value !== null) return REDACTED;
    if (value instanceof Error) return errorFields(value);
    if (key !== '' && INBOUND_TEXT_KEY.test(key) && lineLevel !== 'DEBUG' && value != null) return DEBUG_ONLY;
    if (typeof value === 'string') {
      if (PHONE_KEY.test(key) && /^\+?\d{7,15}$/.test(value)) return `***${value.slice(-4)}`;
      return scrubText(value);
    }
    return value;
  };
}

/**
 * An error as a log attribute: name, message, stack, cause, and its own plain fields (a pg error's code,
 * severity, detail; Twilio's status). Object-valued fields are left out: pg attaches the whole client to an
 * idle-connection error, which would print connection internals on every such line.
 */
function errorFields(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack };
  if (error.cause !== undefined) fields.cause = error.cause;
  for (const [name, value] of Object.entries(error)) {
    const plain = value === null || (typeof value !== 'object' && typeof value !== 'function');
    if (plain && !(name in fields)) fields[name] = value;
  }
  return fields;
}

function levelFrom(value: string | undefined): LogLevel {
  const upper = value?.toUpperCase() as LogLevel | undefined;
  return upper && LEVELS.includes(upper) ? upper : 'INFO';
}

export interface LoggerOptions {
  level?: LogLevel;
  serviceName?: string;
}

/** A logger with the privacy replacer. Use the shared `logger` below; tests make their own. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return new Logger({
    serviceName: options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'daily-positivity',
    // Read directly (not via config.ts) so a bad configuration can still be logged at start-up;
    // applyLogConfig() sets the validated level once config is loaded.
    logLevel: options.level ?? levelFrom(process.env.LOG_LEVEL),
    jsonReplacerFn: createPrivacyReplacer(),
  });
}

export const logger = createLogger();

/** Applies the validated LOG_LEVEL from config to the shared logger. */
export function applyLogConfig(config: Pick<Settings, 'LOG_LEVEL'>, target: Logger = logger): void {
  target.setLogLevel(config.LOG_LEVEL);
}

/** Correlation keys every line about one delivery, message or schedule carries. */
export interface CorrelationKeys {
  deliveryId?: string;
  messageSid?: string;
  scheduleName?: string;
  subscriberId?: number;
}

/** The correlation keys of the unit of work running now (see withCorrelation); none outside one. */
const correlationScope = new AsyncLocalStorage<Record<string, string | number>>();

/** A log line plus the current scope's correlation keys (the line's own attributes win). */
function withScopedKeys(line: Record<string, unknown>): Record<string, unknown> {
  const scoped = correlationScope.getStore();
  if (!scoped) return line;
  const missing = Object.entries(scoped).filter(([name]) => line[name] === undefined);
  return missing.length ? { ...line, ...Object.fromEntries(missing) } : line;
}

function definedKeys(keys: CorrelationKeys): Record<string, string | number> {
  return Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined && v !== null)) as Record<
    string,
    string | number
  >;
}

/** A child logger whose every line carries the given correlation keys (use per delivery / per message). */
export function correlated(keys: CorrelationKeys, parent: Logger = logger): Logger {
  return parent.createChild({ persistentKeys: definedKeys(keys) });
}

/**
 * Runs one unit of work (a request, a send, a planner run) in its own correlation scope: every line it
 * logs, including those of async work it starts, carries `keys` and the keys it appends, and nothing
 * else's. One process doing many things at once needs this (one-machine mode: requests, timers and the
 * planner interleave); a Lambda invocation is its own scope already (the wrapper clears its keys after it).
 */
export function withCorrelation<T>(keys: CorrelationKeys, work: () => T): T {
  return correlationScope.run({ ...correlationScope.getStore(), ...definedKeys(keys) }, work);
}

/**
 * Adds correlation keys for the rest of the current work: to its correlation scope when it runs in one
 * (withCorrelation), else to the logger for the current invocation (Powertools clears temporary keys with
 * `resetKeys()`, which the Lambda wrapper, src/handlers/lambda.ts, calls after each invocation).
 */
export function appendCorrelationKeys(keys: CorrelationKeys, target: Logger = logger): void {
  const scope = correlationScope.getStore();
  if (scope) Object.assign(scope, definedKeys(keys));
  else target.appendKeys(definedKeys(keys));
}

/**
 * Logs text a subscriber wrote. Only at DEBUG: at INFO and above the line is not written at all (and the
 * replacer would hide the text anyway if someone logged it under `inboundText` or `Body`).
 */
export function logInboundText(
  text: string,
  attributes: Record<string, unknown> = {},
  target: Logger = logger,
): void {
  if (target.getLevelName() !== 'DEBUG') return;
  target.debug('inbound message text', { ...attributes, inboundText: text });
}

export { maskPhone } from './domain/phone.js';
