// A guard: the webhooks' SQL functions run plans cached on their connection, not plans made for each
// request. PL/pgSQL keeps each statement's plan and, after five calls, uses a generic one unless it prices
// that above planning afresh for the call's values; a statement priced by a parameter (the per-sender
// limit's LIMIT p_limit_per_minute) can tip into being planned again on every call, which on this machine
// cost a third of a START's database time when the table was large and had no statistics (pgbench against
// a copy of the bench's data). migration 2026-12-01T1200_status_limit_plan fixed the opposite, a generic
// plan that was bad. auto_explain with log_nested_statements shows every statement a request runs: a plan
// made for one call carries that call's values as constants, a generic plan only $n.
import type { Hono } from 'hono';
import { sql } from 'kysely';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Db, dbOnPool } from '../../src/db/connection.js';
import { useTestDb } from '../support/db.js';
import {
  inboundParams,
  newSid,
  seedSubscriber,
  signedForm,
  statusParams,
  testApp,
} from '../support/webhook-doubles.js';

const t = useTestDb();
/** Calls enough for PL/pgSQL to settle on its plans (it weighs the first five custom plans). */
const WARM_UP = 8;
const MEASURED = 4;

let pool: pg.Pool;
let db: Db;
let app: Hono;
let notices: string[];

beforeEach(async (ctx) => {
  notices = [];
  // One connection: every request below meets the same session's cached plans.
  pool = createPool({ connectionString: t.url(), max: 1 });
  pool.on('connect', (client) => {
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
  });
  db = dbOnPool(pool);
  try {
    await sql`LOAD 'auto_explain'`.execute(db);
  } catch (error) {
    console.log(
      `skipped: this Postgres user may not load auto_explain (${(error as Error).message}), ` +
        'so the plans each statement runs cannot be seen',
    );
    await db.destroy();
    ctx.skip();
  }
  await sql`SET auto_explain.log_min_duration = 0`.execute(db);
  await sql`SET auto_explain.log_nested_statements = on`.execute(db);
  await sql`SET auto_explain.log_level = notice`.execute(db);
  app = testApp({ db });
});

afterEach(async () => {
  await db.destroy();
});

function post(path: '/twilio/inbound' | '/twilio/status', params: Record<string, string>) {
  const { body, headers } = signedForm(path, params);
  return app.request(path, { method: 'POST', body, headers });
}

/** The plans of the notices, without the parameter values auto_explain prints beside a plan (PG 16+). */
function plansSince(from: number): string {
  return notices
    .slice(from)
    .map((n) =>
      n
        .split('\n')
        .filter((line) => !line.startsWith('Query Parameters:'))
        .join('\n'),
    )
    .join('\n');
}

/**
 * Sends `WARM_UP` requests, then `MEASURED` more, and returns the plans the measured ones ran with, and
 * the values they carried (numbers and MessageSids) that a per-call plan would show.
 */
async function plansAfterWarmUp(
  request: (i: number) => Promise<{ res: Response; values: string[] }>,
): Promise<{ plans: string; values: string[] }> {
  for (let i = 0; i < WARM_UP; i++) expect((await request(i)).res.ok).toBe(true);
  const from = notices.length;
  const values: string[] = [];
  for (let i = WARM_UP; i < WARM_UP + MEASURED; i++) {
    const sent = await request(i);
    expect(sent.res.ok).toBe(true);
    values.push(...sent.values);
  }
  return { plans: plansSince(from), values };
}

const number = (i: number) => `+1646555${String(i).padStart(4, '0')}`;

function expectNoPerCallPlans(result: { plans: string; values: string[] }, statement: string) {
  // Not vacuous: auto_explain did show the function's statements.
  expect(result.plans).toContain(statement);
  const planned = result.values.filter((v) => result.plans.includes(`'${v}'`));
  expect(planned, 'statements planned again with these calls’ values').toEqual([]);
}

describe('the webhooks run cached plans, not plans made for each request', () => {
  it.each([
    ['START from new numbers', 'START', false],
    ['HELP from subscribers', 'HELP', true],
    ['other texts from subscribers', 'thank you, that made my day', true],
  ])('inbound: %s', async (_name, body, known) => {
    const result = await plansAfterWarmUp(async (i) => {
      if (known) await seedSubscriber(t.db(), { phone: number(i) });
      const params = inboundParams(number(i), body);
      return { res: await post('/twilio/inbound', params), values: [number(i), params.MessageSid as string] };
    });
    expectNoPerCallPlans(result, 'INSERT INTO inbound_messages');
  });

  it('inbound: STOP from subscribers with a planned delivery', async () => {
    const result = await plansAfterWarmUp(async (i) => {
      await seedSubscriber(t.db(), { phone: number(i) }, { state: 'planned' });
      const params = inboundParams(number(i), 'STOP');
      return { res: await post('/twilio/inbound', params), values: [number(i), params.MessageSid as string] };
    });
    expectNoPerCallPlans(result, 'UPDATE deliveries');
  });

  it.each([
    ['sent', {}],
    ['delivered', {}],
    ['undelivered', { ErrorCode: '30003' }],
    ['undelivered', { ErrorCode: '21610' }],
  ])('status callbacks: %s %o', async (status, extra) => {
    const result = await plansAfterWarmUp(async (i) => {
      const sid = newSid();
      await seedSubscriber(t.db(), { phone: number(i) }, { state: 'sent', messageSid: sid });
      const params = statusParams(sid, status, { To: number(i), ...extra });
      return { res: await post('/twilio/status', params), values: [number(i), sid] };
    });
    expectNoPerCallPlans(result, 'INSERT INTO message_statuses');
  });
});
