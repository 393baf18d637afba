// How failures become responses: a typed client error carries its status, code and message; a database that
// cannot be reached is a 503 (isDbUnavailable, in src/db/connection.ts); anything else a bare 500 (logged,
// never serialized to the caller). Every /api error body is {"error": …, "code": …}, built by apiError.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ApiErrorCode } from '../services/operator-views.js';

type ClientStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422;

/** The code of a client error when the thrower names none. */
export function codeForStatus(status: ClientStatus): ApiErrorCode {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 405) return 'no_route';
  if (status === 409) return 'conflict';
  return 'bad_input';
}

export class ClientError extends Error {
  readonly code: ApiErrorCode;
  constructor(
    readonly status: ClientStatus,
    message: string,
    code?: ApiErrorCode,
  ) {
    super(message);
    this.name = 'ClientError';
    this.code = code ?? codeForStatus(status);
  }
}

/** An /api error answer: the one body shape the OpenAPI document's Error schema describes. */
export function apiError(
  c: Context,
  status: ContentfulStatusCode,
  code: ApiErrorCode,
  message: string,
  headers?: Record<string, string>,
) {
  return c.json({ error: message, code }, status, headers);
}
