// Where an operator request's deadline (src/db/request-deadline.ts) must not reach: the next user of a pooled
// client it released, a transaction it stopped (rolled back, client back in the pool), and work it only
// started — the local stand-in for the scheduler fires the sender, which must run as the sender Lambda does,
// under no request's deadline. (Nor the process: test/integration/webhooks-after-api.test.ts.)
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, dbOnPool, dbWithDeadline } from '../../src/db/connection.js';
import { DeadlineReached, RequestDeadline } from '../../src/db/request-deadline.js';
import { starterWithinDeadline } from '../../src/http/api-deadline.js';
import { createInProcessScheduler, type InProcessScheduler } from '../../src/local/in-process-scheduler.js';
import { useTestDb } from '../support/db.js';

const t = useTestDb();
const NEEDS = { statementMs: 1_000, openMs: 1_000 };
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A deadline whose clock the test moves: `pass()` puts it behind. */
function movableDeadline() {
  let now = 0;
  const deadline = new RequestDeadline(60_000, NEEDS, () => now);
  return { deadline, pass: () => (now = 60_000) };
}

function poolOfOne() {
  const pool = createPool({ connectionString: t.url(), max: 1 });
  const db = dbOnPool(pool, { namedStatements: false });
  closers.push(() => db.destroy());
  return { pool, db };
}

describe('a deadline stays with its request', () => {
  it('a webhook waiting for the client a deadline-bound request releases runs without that deadline', async () => {
    const { pool, db } = poolOfOne();
    const { deadline, pass } = movableDeadline();
    let waiterQueued!: () => void;
    const queued = new Promise<void>((r) => (waiterQueued = r));
    const api = dbWithDeadline(db, deadline)
      .connection()
      .execute(async (conn) => {
        await sql`SELECT 1`.execute(conn);
        await queued;
        while (pool.waitingCount === 0) await new Promise((r) => setImmediate(r));
        pass(); // the request's deadline is behind it when it hands the client on
      });
    // The webhook asks while the only client is held: it waits in pg-pool's queue.
    const webhook = (async () => {
      const waiting = db.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx);
        return (await sql<{ n: number }>`SELECT 2 AS n`.execute(trx)).rows[0]?.n;
      });
      waiterQueued();
      return waiting;
    })();
    await api;
    await expect(webhook).resolves.toBe(2);
    // And the client's next user after that.
    await expect(sql`SELECT 3`.execute(db)).resolves.toBeDefined();
  });

  it('DeadlineReached inside a transaction rolls it back and gives the client back to the pool', async () => {
    const { pool, db } = poolOfOne();
    await sql`CREATE TEMP TABLE IF NOT EXISTS probe (n int)`.execute(db); // one client: the temp table stays
    const { deadline, pass } = movableDeadline();
    const work = dbWithDeadline(db, deadline)
      .transaction()
      .execute(async (trx) => {
        await sql`INSERT INTO probe VALUES (1)`.execute(trx);
        pass();
        await sql`INSERT INTO probe VALUES (2)`.execute(trx); // refused: ROLLBACK must still go out
      });
    await expect(work).rejects.toBeInstanceOf(DeadlineReached);
    expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual({ total: 1, idle: 1 });
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM probe`.execute(db);
    expect(rows.rows[0]?.n).toBe(0);
    const state = await sql<{
      s: string;
    }>`SELECT state AS s FROM pg_stat_activity WHERE pid = pg_backend_pid()`.execute(db);
    expect(state.rows[0]?.s).toBe('active'); // not left idle in transaction
  });

  it('the local scheduler fires a send armed by an API request under no deadline (the sender Lambda has none)', async () => {
    const { deadline, pass } = movableDeadline();
    let fired!: (v: unknown) => void;
    const done = new Promise((r) => (fired = r));
    const scheduler: InProcessScheduler = createInProcessScheduler({
      db: t.db(),
      onDue: async () => {
        pass(); // the send outlasts the request (a slow writer, Twilio's retries)
        try {
          fired(await sql`SELECT 1`.execute(t.db())); // recording the send
        } catch (error) {
          fired(error);
        }
      },
      pollMs: 60_000,
    });
    closers.push(() => scheduler.stop());
    await scheduler.start();
    // POST /api/subscribers/:phone/send-now on the local server: the request reserves the delivery on its
    // view of the database, then its starter arms the timer, due now.
    await sql`SELECT 1`.execute(dbWithDeadline(t.db(), deadline));
    await starterWithinDeadline(
      {
        start: async ({ deliveryId, windowEnd }) => {
          await scheduler.schedule({ deliveryId, at: new Date(), windowEnd });
        },
      },
      deadline,
    ).start({ deliveryId: crypto.randomUUID(), windowEnd: new Date(Date.now() + 3_600_000) });
    const outcome = await done;
    expect(outcome).not.toBeInstanceOf(DeadlineReached);
    expect(outcome).toHaveProperty('rows', [{ '?column?': 1 }]);
  });
});
