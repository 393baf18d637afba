// Child process for the fault tests: the real webhooks app (createApp via testApp + @hono/node-server) on the pool
// that src/db/connection.ts builds, against FAULT_DATABASE_URL. Prints {"url": …} once listening. Before the
// API's sign-up writes its consent-ledger entry, every backend this app holds is terminated, so the
// sign-up's transaction loses its connection while its client sits checked out between two statements
// (the path that used to crash the process). The test asserts this process is still alive after each fault.
import { serve } from '@hono/node-server';
import pg from 'pg';
import { createPool, dbOnPool } from '../../src/db/connection.js';
import { RecordingSms, testApp } from './webhook-doubles.js';

const FAULT_APP_NAME = process.env.FAULT_APP_NAME ?? 'dps-fault-app';

async function terminateAppBackends(databaseUrl: string): Promise<number> {
  const killer = new pg.Client({ connectionString: databaseUrl, application_name: 'dps-fault-killer' });
  await killer.connect();
  try {
    const { rowCount } = await killer.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1`,
      [FAULT_APP_NAME],
    );
    return rowCount ?? 0;
  } finally {
    await killer.end();
  }
}

/** The sign-up's second statement, its consent-ledger entry (as Kysely writes it). */
const CONSENT_INSERT = /^insert into "consent_events"/;

const databaseUrl = process.env.FAULT_DATABASE_URL;
if (!databaseUrl) throw new Error('FAULT_DATABASE_URL is not set');
const url = databaseUrl;
const pool = createPool({ connectionString: url, max: 4, applicationName: FAULT_APP_NAME });
pool.on('connect', (client) => {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = (async (...args: unknown[]) => {
    const [q] = args;
    const text = typeof q === 'string' ? q : (q as { text?: string } | null)?.text;
    if (text && CONSENT_INSERT.test(text)) {
      await terminateAppBackends(url);
      // Let the server's FATAL message reach the client that is idle inside its transaction.
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return query(...args);
  }) as typeof client.query;
});
const app = testApp({ db: dbOnPool(pool), sms: new RecordingSms() });
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${info.port}` }));
});
process.once('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
