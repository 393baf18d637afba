// The two Twilio Messages API calls this service makes (create; fetch/list for reconciliation), over the
// runtime's fetch. The twilio SDK's client pulls every generated API domain (3.2 MB bundled) and even its
// bare base client brings axios, form-data and mime-db (≈ 390 KB); three requests need neither.
import * as z from 'zod';
import {
  type Credentials,
  fixedCredentials,
  type TwilioCredentials,
  withFreshCredentials,
} from './credentials.js';

export type { TwilioCredentials } from './credentials.js';

const TWILIO_API_BASE = 'https://api.twilio.com/2010-04-01';

/** Twilio error 21610, "Attempt to send to unsubscribed recipient": the recipient opted out (STOP). */
export const TWILIO_UNSUBSCRIBED_RECIPIENT = 21610;
const USER_AGENT = 'daily-positivity-sms (node fetch)';

/**
 * Twilio answered with an error status. `code` and `moreInfo` come from the JSON body when there is one
 * (https://www.twilio.com/docs/api/errors); the message is Twilio's, as the SDK's RestException gave it.
 */
export class TwilioApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    message: string,
    readonly moreInfo: string | null = null,
    /** The answer's Retry-After header as sent (429s carry one), or null. */
    readonly retryAfter: string | null = null,
  ) {
    super(message);
    this.name = 'TwilioApiError';
  }
}

const ErrorBody = z.looseObject({
  code: z.number().int().nullish(),
  message: z.string().nullish(),
  more_info: z.string().nullish(),
});

/**
 * The fields of a Message resource this service reads; Twilio sends more, which are kept but unused. Twilio's
 * OpenAPI description requires none of them and makes most nullable (`to` and `body` are erased after their
 * PII retention), so each one is optional here and every reader decides what it cannot do without.
 */
export const TwilioMessage = z.looseObject({
  sid: z.string().nullish(),
  status: z.string().nullish(),
  to: z.string().nullish(),
  direction: z.string().nullish(),
  body: z.string().nullish(),
  error_code: z.number().int().nullish(),
  num_segments: z.union([z.string(), z.number()]).nullish(),
  date_created: z.string().nullish(),
  date_sent: z.string().nullish(),
});
export type TwilioMessage = z.infer<typeof TwilioMessage>;

export const TwilioMessagePage = z.looseObject({ messages: z.array(TwilioMessage).nullish() });

/** Positive segment counts only: a scheduled message reports "0" until it is sent. */
export function segmentCount(value: string | number | null | undefined): number | null {
  const n = Number.parseInt(String(value ?? ''), 10);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** Twilio's list filters take UTC seconds: 2026-11-24T16:55:00Z (what the SDK sent). */
export function twilioDateTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Twilio's RFC 2822 dates ("Tue, 24 Nov 2026 17:00:02 +0000") as Dates; null when absent or unreadable. */
export function twilioDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms);
}

interface TwilioRequest {
  method: 'GET' | 'POST';
  /** Below /2010-04-01/Accounts/{AccountSid}, e.g. `/Messages.json`. */
  path: string;
  form?: Record<string, string | number | undefined>;
  query?: Record<string, string | number | undefined>;
  timeoutMs: number;
}

export interface TwilioApi {
  /** The parsed JSON body of a 2xx answer; TwilioApiError otherwise. Network errors and timeouts reject as fetch does. */
  request(req: TwilioRequest): Promise<unknown>;
}

const defined = (params: Record<string, string | number | undefined>) =>
  new URLSearchParams(
    Object.entries(params)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]): [string, string] => [k, String(v)]),
  );

/** Twilio refused the credentials: 401, or error 20003 ("Authenticate"). */
function isTwilioAuthFailure(error: unknown): boolean {
  return error instanceof TwilioApiError && (error.status === 401 || error.code === 20003);
}

/**
 * Requests as the account in `credentials`. When Twilio refuses them (a rotated auth token), the credentials
 * are re-read and the request is made once more with the new ones.
 */
export function createTwilioApi(
  credentials: TwilioCredentials | Credentials<TwilioCredentials>,
  fetchImpl: typeof fetch = fetch,
): TwilioApi {
  const source = 'get' in credentials ? credentials : fixedCredentials(credentials);
  return {
    request: (req) =>
      withFreshCredentials(source, isTwilioAuthFailure, (current) => send(current, req, fetchImpl)),
  };
}

async function send(
  credentials: TwilioCredentials,
  { method, path, form, query, timeoutMs }: TwilioRequest,
  fetchImpl: typeof fetch,
): Promise<unknown> {
  const account = `${TWILIO_API_BASE}/Accounts/${encodeURIComponent(credentials.accountSid)}`;
  const authorization = `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`;
  const url = new URL(`${account}${path}`);
  if (query) url.search = defined(query).toString();
  const response = await fetchImpl(url, {
    method,
    headers: {
      Authorization: authorization,
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
      ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
    },
    body: form ? defined(form).toString() : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) return json;
  const body = ErrorBody.safeParse(json);
  const fallback = `[HTTP ${response.status}] Failed to execute request`;
  const retryAfter = response.headers.get('retry-after');
  throw body.success
    ? new TwilioApiError(
        response.status,
        body.data.code ?? null,
        body.data.message ?? fallback,
        body.data.more_info ?? null,
        retryAfter,
      )
    : new TwilioApiError(response.status, null, fallback, null, retryAfter);
}
