// The operator's commands against a deployed stack (`positivity --api <url>`): the /api routes over HTTPS
// with the bearer token, each answer checked against the same zod schemas the API is described with, so a
// command prints the same JSON as against a local database. Every failure becomes one OperationError with
// a code (unauthorized, unreachable, rate_limited, …) and a sentence; never a stack trace.
import * as z from 'zod';
import type { E164 } from '../domain/phone.js';
import { FINISHED_STATES, OperationError, type Operations } from '../services/operations.js';
import {
  ApiErrorCodeSchema,
  CapacityViewSchema,
  DailyReportSchema,
  DeliveriesOfDateSchema,
  DeliveryViewSchema,
  type ErrorCode,
  SendNowViewSchema,
  SubscriberDetailSchema,
  SubscriberPageSchema,
  SubscriberViewSchema,
} from '../services/operator-views.js';

export interface RemoteOperationsOptions {
  /** The stack's PublicBaseUrl (https://<id>.execute-api.<region>.amazonaws.com). */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** Per request (default 30 s: API Gateway's own limit). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Polling a test send: quick at first (a send takes seconds), then every 5 s, within the `api` budget. */
const POLL_DELAYS_MS = [500, 1000, 1500, 2000, 3000, 5000];

type Query = Record<string, string | number | boolean | undefined>;

/**
 * An error body of ours, read leniently: a code this version does not know (a newer API) or none (an older
 * one) falls back to the status. The API's codes are the CLI's, except no_route (a wrong URL: unreachable).
 */
const ApiAnswerSchema = z.object({ error: z.string(), code: z.string().optional() });

/** The API's answer to a status, when its body carries no code of ours. */
function codeForStatus(status: number): ErrorCode {
  if (status === 400 || status === 413 || status === 415) return 'bad_input';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'unreachable';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status === 502 || status === 503 || status === 504) return 'unavailable';
  return 'failed';
}

function networkProblem(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return 'no answer in time';
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

export function remoteOperations(options: RemoteOperationsOptions): Operations {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;

  async function call<T extends z.ZodType>(
    schema: T,
    method: string,
    path: string,
    request: { query?: Query; body?: unknown } = {},
  ): Promise<z.output<T>> {
    const url = new URL(`${base}${path}`);
    for (const [key, value] of Object.entries(request.query ?? {}))
      if (value !== undefined && value !== false) url.searchParams.set(key, String(value));
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new OperationError('unreachable', `cannot reach ${base} (${networkProblem(error)})`);
    }
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) throw answerToError(response, body, method, url);
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new OperationError(
        'failed',
        `${base} answered ${method} ${url.pathname} with something this CLI does not understand ` +
          `(${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'not JSON'}); is it the Daily Positivity API, deployed from this version?`,
      );
    }
    return parsed.data;
  }

  function answerToError(response: Response, body: unknown, method: string, url: URL): OperationError {
    const ours = ApiAnswerSchema.safeParse(body);
    const retryAfter = response.headers.get('retry-after');
    if (ours.success) {
      const known = ApiErrorCodeSchema.safeParse(ours.data.code);
      const code = known.success ? known.data : undefined;
      // no_route (or, from an older API, a 404 without a code) is a route this API does not have: the URL
      // (or the deployment) is wrong.
      if (code === 'no_route' || (response.status === 404 && !code))
        return new OperationError('unreachable', notThisApi(method, url, response.status));
      if (response.status === 401)
        return new OperationError('unauthorized', `${ours.data.error} (check POSITIVITY_API_TOKEN)`);
      return new OperationError(code ?? codeForStatus(response.status), ours.data.error);
    }
    // Not our error body: API Gateway's own answers ({"message": …}), or something else at this URL.
    if (response.status === 429)
      return new OperationError(
        'rate_limited',
        `too many requests${retryAfter ? `; retry after ${retryAfter} s` : ''}`,
      );
    if (response.status === 404)
      return new OperationError('unreachable', notThisApi(method, url, response.status));
    const code = codeForStatus(response.status);
    return new OperationError(
      code,
      `${base} answered ${method} ${url.pathname} with HTTP ${response.status}`,
    );
  }

  const notThisApi = (method: string, url: URL, status: number) =>
    `${base} has no ${method} ${url.pathname} (HTTP ${status}): use the stack's PublicBaseUrl output, ` +
    'and a stack deployed from this version';

  const phonePath = (phone: E164) => `/api/subscribers/${encodeURIComponent(phone)}`;

  return {
    addSubscriber: (input) => call(SubscriberViewSchema, 'POST', '/api/subscribers', { body: input }),
    listSubscribers: ({ status, paused, timeZone, limit, after }) =>
      call(SubscriberPageSchema, 'GET', '/api/subscribers', {
        query: { status, paused: paused === undefined ? undefined : String(paused), timeZone, limit, after },
      }),
    showSubscriber: (phone, { bodies }) =>
      call(SubscriberDetailSchema, 'GET', phonePath(phone), { query: { bodies } }),
    removeSubscriber: (phone) => call(SubscriberViewSchema, 'DELETE', phonePath(phone)),
    setTimeZone: (phone, timeZone) =>
      call(SubscriberViewSchema, 'PATCH', phonePath(phone), { body: { timeZone } }),
    deliveries: ({ date, bodies }) =>
      call(DeliveriesOfDateSchema, 'GET', '/api/deliveries', { query: { date, bodies } }),
    usage: (day) => call(DailyReportSchema, 'GET', '/api/usage', { query: { day } }),
    capacity: async ({ subscribers, zones, stage, set }) => {
      if (stage !== undefined || (set && Object.keys(set).length > 0))
        throw new OperationError(
          'bad_input',
          '--stage and --set read config files on this machine; against --api the report uses the deployed ' +
            "stage's settings (drop them, or run without --api)",
        );
      return call(CapacityViewSchema, 'GET', '/api/capacity', { query: { subscribers, zones } });
    },
    sendNow: async (phone, { waitMs }) => {
      const started = await call(SendNowViewSchema, 'POST', `${phonePath(phone)}/send-now`);
      const deadline = now() + waitMs;
      let delivery = started.delivery;
      for (let attempt = 0; !FINISHED_STATES.has(delivery.state); attempt++) {
        const delay = POLL_DELAYS_MS[Math.min(attempt, POLL_DELAYS_MS.length - 1)] as number;
        if (now() + delay > deadline)
          throw new OperationError(
            'unfinished',
            `the sender has not finished within ${Math.round(waitMs / 1000)} s (delivery ${delivery.id} is ` +
              `${delivery.state}); \`positivity --api ${base} deliveries\` shows how it ends`,
          );
        await sleep(delay);
        try {
          delivery = await call(DeliveryViewSchema, 'GET', `/api/deliveries/${delivery.id}`);
        } catch (error) {
          // Polling must not fail the send over the budget: wait and ask again.
          if (!(error instanceof OperationError && error.code === 'rate_limited')) throw error;
        }
      }
      return { ...started, delivery };
    },
    close: async () => {},
  };
}
