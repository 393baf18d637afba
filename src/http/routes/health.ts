// GET /health: 200 when the database answers within a short timeout, else 503. Never rate limited.
import { Hono } from 'hono';
import { sql } from 'kysely';
import type { Db } from '../../db/connection.js';

async function databaseReachable(db: Db, timeoutMs: number): Promise<boolean> {
  const ping = sql`SELECT 1`.execute(db).then(
    () => true,
    () => false,
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: { db: Db; timeoutMs?: number }) {
  return new Hono().get('/', async (c) => {
    const ok = await databaseReachable(deps.db, deps.timeoutMs ?? 1500);
    c.header('Cache-Control', 'no-store');
    return ok
      ? c.json({ status: 'ok', database: 'reachable' })
      : c.json({ status: 'unavailable', database: 'unreachable' }, 503);
  });
}
