// Child process for the fault tests: the real webhooks app (createApp via testApp + @hono/node-server) on the pool
// that src/db/connection.ts builds, against FAULT_DATABASE_URL. Prints {"url": …} once listening. Its
// SMS sender stands in for Twilio: before "sending" it terminates every backend this app holds, so the
// API's sign-up transaction loses its connection between two statements (the path that used to crash the
// process). The test asserts this process is still alive after each fault.
import { serve } from '@hono/node-server';
import pg from 'pg';
import { createPool, dbOnPool } from '../../src/db/connection.js';
import type { OutboundSms, SmsReceipt, SmsSender } from '../../src/services/ports.js';
import { newSid, testApp } from './webhook-doubles.js';

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

class KillingSms implements SmsSender {
  constructor(private readonly databaseUrl: string) {}
  async send(_message: OutboundSms): Promise<SmsReceipt> {
    await terminateAppBackends(this.databaseUrl);
    // Let the server's FATAL message reach the client that is idle inside its transaction.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { sid: newSid(), status: 'queued', segments: 1 };
  }
}

const databaseUrl = process.env.FAULT_DATABASE_URL;
if (!databaseUrl) throw new Error('FAULT_DATABASE_URL is not set');
const pool = createPool({ connectionString: databaseUrl, max: 4, applicationName: FAULT_APP_NAME });
const app = testApp({ db: dbOnPool(pool), sms: new KillingSms(databaseUrl) });
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${info.port}` }));
});
process.once('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
