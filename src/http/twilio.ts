// What every Twilio webhook shares: form-body parsing (accepting any parameter Twilio adds), signature
// validation against the public URL Twilio called, and TwiML responses.
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
// Only Twilio's webhook module: the full client would add megabytes to the Lambda bundle.
import { validateRequest } from 'twilio/lib/webhooks/webhooks.js';
import * as z from 'zod';
import { type Credentials, freshValue, type TwilioCredentials } from '../adapters/credentials.js';
import { logger } from '../logger.js';
import { matchedRoute } from './matched-route.js';

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

/**
 * Reads the form body and checks X-Twilio-Signature against `publicBaseUrl` + the path and query Twilio
 * called (behind API Gateway the request's own host is not the one Twilio signed). Missing or forged →
 * 403 before anything else runs, so nothing is written. A mismatch may also mean the auth token was rotated:
 * the token is read again (bounded by the credentials, so forgeries cannot hammer Secrets Manager) and the
 * signature checked once more before the request is refused.
 */
export function verifyTwilioSignature(options: {
  credentials: Credentials<Pick<TwilioCredentials, 'authToken'>>;
  publicBaseUrl: string;
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
    const signedWith = (token: { authToken: string } | null) =>
      token !== null && validateRequest(token.authToken, signature ?? '', signedUrl, params);
    const current = await options.credentials.get();
    const valid =
      signature !== undefined &&
      (signedWith(current) || signedWith(await freshValue(options.credentials, current)));
    if (!valid) {
      logger.warn('twilio signature rejected', {
        route: matchedRoute(c),
        reason: signature ? 'invalid' : 'missing',
      });
      return twiml(c, null, 403);
    }
    c.set('twilioParams', params);
    await next();
  };
}
