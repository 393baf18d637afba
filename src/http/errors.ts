// How failures become responses: a typed client error carries its status and message; a database that
// cannot be reached is a 503 (isDbUnavailable, in src/db/connection.ts); anything else a bare 500 (logged,
// never serialized to the caller).

export class ClientError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}
