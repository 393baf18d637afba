// A deadline for one request's work, and the database gate that keeps to it. An operator API request runs
// in the webhooks Lambda, whose timeout would otherwise stop it wherever it stands (opted out with the
// schedules left, an opt-in text sent for a row rolled back); with a deadline it starts no statement and no
// outside call that could end after it, and what is already in flight rolls back. The request hands its
// deadline to what it uses: a view of the database that keeps to it (dbWithDeadline, src/db/connection.ts),
// its texts and its hand-overs (src/http/api-deadline.ts); everything else on the pool (webhooks, the spool,
// the CLI) runs without one. Not an async context (AsyncLocalStorage): Node 20 and 22 run one on promise
// hooks that its first use turns on for the whole process, so every webhook after one /api request would
// pay for them (test/integration/webhooks-after-api.test.ts).
import type { PostgresPool } from 'kysely';
import { type ClientQuery, wrappingClients } from './pool-clients.js';

/** A call was not started: it could have ended after the request's deadline. Nothing of it happened. */
export class DeadlineReached extends Error {
  constructor(readonly what: string) {
    super(`not started: ${what} could not finish before the request's deadline`);
    this.name = 'DeadlineReached';
  }
}

export interface DeadlineNeeds {
  /** One statement, to its answer (the pool's query timeout). */
  statementMs: number;
  /** Opening a connection, when the pool has none idle. */
  openMs: number;
}

export class RequestDeadline {
  constructor(
    /** Epoch ms: every call the request starts ends by then. */
    readonly atMs: number,
    readonly needs: DeadlineNeeds,
    private readonly now: () => number = Date.now,
  ) {}

  remainingMs(): number {
    return this.atMs - this.now();
  }

  /** Throws DeadlineReached unless a call that may take `needMs` ends by the deadline. */
  ensure(needMs: number, what: string): void {
    if (this.remainingMs() < needMs) throw new DeadlineReached(what);
  }
}

/** COMMIT and ROLLBACK end a transaction whatever the time: refusing them would leave it open. */
const ENDS_TRANSACTION = /^\s*(commit|rollback)\b/i;

/**
 * `pool` for Kysely, refusing (DeadlineReached) a checkout or a statement that could end after `deadline`:
 * a checkout needs time to open a connection (when none is idle) and run a statement.
 */
export function gatingStatements(
  pool: PostgresPool,
  idleCount: () => number,
  deadline: RequestDeadline,
): PostgresPool {
  return wrappingClients(
    pool,
    (client) => (sqlOrCursor, parameters) => {
      if (!(typeof sqlOrCursor === 'string' && ENDS_TRANSACTION.test(sqlOrCursor)))
        deadline.ensure(deadline.needs.statementMs, 'a database statement');
      return (client.query as ClientQuery)(sqlOrCursor, parameters);
    },
    () => {
      const open = idleCount() > 0 ? 0 : deadline.needs.openMs;
      deadline.ensure(open + deadline.needs.statementMs, 'a database statement');
    },
  );
}
