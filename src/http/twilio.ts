// What every Twilio webhook shares: form-body parsing (accepting any parameter Twilio adds), signature
// validation against the public URL Twilio called, and TwiML responses.
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
// Only Twilio's webhook module: the full client would add megabytes to the Lambda bundle.
import { validateRequest } from 'twilio/lib/webhooks/webhooks.js';
import * as z from 'zod';
import { type Credentials, freshValue } from '../adapters/credentials.js';
import { logger } from '../logger.js';
import { MetricName, type TwilioWebhookRoute } from '../metrics.js';
import type { MetricsSink } from '../services/ports.js';

/** Form parameters as Twilio sent them; a name repeated in the body becomes an array. */
export type TwilioParams = Record<string, string | string[]>;

export type TwilioEnv = { Variables: { twilioParams: TwilioParams } };

/** Parses application/x-www-form-urlencoded; null when a percent-escape is malformed. */
export function parseForm(body: string): TwilioParams | null {
  const params: TwilioParams = {};
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const [rawName, rawValue] = eq === -1 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      return null;
    }
    const existing = params[name];
    if (existing === undefined) params[name] = value;
    else params[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return params;
}

/**
 * C0 control characters other than tab, LF and CR, and DEL. Postgres refuses NUL in text (a 500 before
 * this existed), and none of them belongs in a phone number, a SID or a text a person typed.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

function stripControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, '');
}

/** A form field as we keep it: control characters stripped at the boundary, then checked by `schema`. */
export function formText<T extends z.ZodType<unknown, string>>(schema: T) {
  return z.string().transform(stripControlCharacters).pipe(schema);
}

/** A single value: the last one when Twilio repeated a name. */
export function param(params: TwilioParams, name: string): string | undefined {
  const value = params[name];
  return Array.isArray(value) ? value.at(-1) : value;
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (ch) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[ch]};`,
  );
}

/** A TwiML answer: `<Response/>` (say nothing) or one `<Message>`. Twilio accepts it on any status. */
export function twiml(c: Context, message: string | null = null, status: ContentfulStatusCode = 200) {
  const body =
    message === null ? '<Response/>' : `<Response><Message>${escapeXml(message)}</Message></Response>`;
  return c.body(`<?xml version="1.0" encoding="UTF-8"?>${body}`, status, {
    'Content-Type': 'text/xml; charset=utf-8',
  });
}

/** The auth token that signs every webhook, and the account it belongs to when that is known. */
export interface TwilioSigningCredentials {
  authToken: string;
  /**
   * Our account (AC…): a refused request that names another one, or none, is internet noise, not a lost
   * webhook. Undefined in one-machine mode without TWILIO_ACCOUNT_SID: then every signed refusal counts.
   */
  accountSid?: string;
}

/**
 * Reads the form body and checks X-Twilio-Signature against `publicBaseUrl` + the path and query Twilio
 * called (behind API Gateway the request's own host is not the one Twilio signed). Missing or forged →
 * 403 before anything else runs, so nothing is written. A mismatch may also mean the auth token was rotated:
 * the token is read again (bounded by the credentials, so forgeries cannot hammer Secrets Manager) and the
 * signature checked once more before the request is refused (refuseWebhook says who hears about it).
 */
export function verifyTwilioSignature(options: {
  credentials: Credentials<TwilioSigningCredentials>;
  publicBaseUrl: string;
  route: TwilioWebhookRoute;
  metrics: MetricsSink;
}): MiddlewareHandler<TwilioEnv> {
  return async (c, next) => {
    const contentType = c.req.header('content-type') ?? '';
    if (!/^application\/x-www-form-urlencoded\b/i.test(contentType)) {
      return twiml(c, null, 415);
    }
    const params = parseForm(await c.req.text());
    if (!params) return twiml(c, null, 400);
    const signature = c.req.header('x-twilio-signature');
    const url = new URL(c.req.url);
    const signedUrl = `${options.publicBaseUrl}${url.pathname}${url.search}`;
    const current = await options.credentials.get();
    // The value the last check used: the re-read one when the secret changed.
    let checked = current;
    let valid = signature !== undefined && validateRequest(current.authToken, signature, signedUrl, params);
    if (signature !== undefined && !valid) {
      const fresh = await freshValue(options.credentials, current);
      if (fresh !== null) {
        checked = fresh;
        valid = validateRequest(fresh.authToken, signature, signedUrl, params);
      }
    }
    if (!valid) {
      refuseWebhook(c, options, { signature, params, current, checked });
      return twiml(c, null, 403);
    }
    c.set('twilioParams', params);
    await next();
  };
}

/**
 * Who hears about a refused webhook. The public URL is scanned, so a request without a signature, or naming
 * another Twilio account (or none: Twilio always sends AccountSid), is noise: an INFO line, no metric (the
 * HTTP API's 4xx count has it anyway). One that claims to be ours was sent by Twilio, which does not send
 * it again: the text or status callback is lost and the cause is our configuration. It counts
 * WebhookSignatureRefused{route} (the webhook-signature-refused alarm) and says at WARN what to check.
 */
function refuseWebhook(
  c: Context,
  options: { publicBaseUrl: string; route: TwilioWebhookRoute; metrics: MetricsSink },
  request: {
    signature: string | undefined;
    params: TwilioParams;
    /** What the first check used, and the last (the re-read value when the secret had changed). */
    current: TwilioSigningCredentials;
    checked: TwilioSigningCredentials;
  },
): void {
  const { signature, params, current, checked } = request;
  const { route, publicBaseUrl } = options;
  const accountSid = param(params, 'AccountSid');
  const ours =
    checked.accountSid === undefined ||
    (accountSid !== undefined && [current.accountSid, checked.accountSid].includes(accountSid));
  if (signature === undefined || !ours) {
    logger.info('twilio webhook refused: unsigned or not our Twilio account (not counted)', {
      route,
      reason: signature === undefined ? 'unsigned' : 'other_account',
    });
    return;
  }
  options.metrics.count(MetricName.WebhookSignatureRefused, 1, { route });
  // Signed for the URL the request came in on (a custom domain, a tunnel): PUBLIC_BASE_URL is not what
  // Twilio calls. Otherwise the token is the likelier cause. Either way the request stays refused.
  const calledUrl = urlTwilioSigned(c, checked.authToken, signature, params);
  if (calledUrl !== null) {
    logger.warn('twilio webhook refused: Twilio signed another URL than PUBLIC_BASE_URL', {
      route,
      cause: 'public_base_url',
      publicBaseUrl,
      calledUrl: `${calledUrl.origin}${route}`,
      check: `Twilio calls ${calledUrl.origin}${route}: set PUBLIC_BASE_URL to ${calledUrl.origin}, or point the Twilio console (number or Messaging Service) at ${publicBaseUrl}${route}`,
    });
    return;
  }
  logger.warn('twilio webhook refused: the signature does not match our auth token', {
    route,
    cause: 'auth_token',
    publicBaseUrl,
    check: `TWILIO_AUTH_TOKEN (the Twilio secret in AWS, .env locally) must be the account's current primary auth token, and the URL in the Twilio console exactly ${publicBaseUrl}${route}`,
  });
}

/** The URL this request reached, if Twilio's signature is over it (https too: a tunnel forwards plain http). */
function urlTwilioSigned(c: Context, authToken: string, signature: string, params: TwilioParams): URL | null {
  const reached = new URL(c.req.url);
  const overHttps = new URL(reached);
  overHttps.protocol = 'https:';
  const candidates = reached.protocol === 'https:' ? [reached] : [reached, overHttps];
  return candidates.find((u) => validateRequest(authToken, signature, u.href, params)) ?? null;
}
