// How failures become responses: a typed client error carries its status and message; a database that
// cannot be reached is a 503; anything else a bare 500 (logged, never serialized to the caller).

export class ClientError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  // Postgres: connection exceptions, shutting down / starting up, too many connections, statement timeout.
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
]);

/** True when the error means "the database is not reachable right now" rather than a bug. */
export function isDbUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (
      /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/i.test(e.message)
    ) {
      return true;
    }
    if (e instanceof AggregateError && e.errors.some(isDbUnavailable)) return true;
  }
  return false;
}
