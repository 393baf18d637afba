// A subscriber's data through its whole life, driven from the outside: the one-machine server on real HTTP
// and real Postgres, sign-up through the API, texts through the signed inbound route, a message sent and
// delivered (the outbox's signed callbacks), a text from a stranger, STOP, START, DELETE, then retention;
// and a sign-up nobody answers, through PENDING_EXPIRY_DAYS and RETENTION_DAYS.
// After DELETE and after retention every column of every table (information_schema, not a list kept by
// hand) is searched for the number, the name and the texts, and held to what the docs promise
// (docs/observability.md, "What is kept about a person"); so are the INFO log lines and the data directory.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/connection.js';
import { runCli } from '../../src/local/cli.js';
import { freePort } from '../../src/local/embedded-postgres.js';
import { textAsSubscriber } from '../../src/local/phone-simulator.js';
import { type LocalServer, startLocalServer } from '../../src/local/server.js';
import { logger } from '../../src/logger.js';
import { captureStdout } from '../support/capture-stdout.js';
import { deliveriesWithStatus, useTestDb } from '../support/db.js';
import { eventually } from '../support/eventually.js';

const { db, url } = useTestDb();
const logs = captureStdout({ stderr: true });

const PHONE = '+14155550187';
const STRANGER = '+14155550942';
const NAME = 'Zebulon';
const DIARY = 'my landlord Mr Quigley evicts us friday';
const WRONG_NUMBER = 'is this Priscilla from the clinic';
const INVITEE = '+14155550263';
const INVITEE_NAME = 'Philomena';

/** Every (table, column, value) of every application table whose text holds `needle`. */
async function whereIs(db: Db, needle: string): Promise<string[]> {
  const { rows: columns } = await sql<{ table_name: string; column_name: string }>`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'
      AND data_type IN ('text', 'character varying', 'ARRAY', 'jsonb', 'json')
    ORDER BY table_name, column_name`.execute(db);
  const found: string[] = [];
  for (const { table_name, column_name } of columns) {
    const { rows } = await sql<{ value: string }>`
      SELECT ${sql.ref(column_name)}::text AS value FROM ${sql.table(table_name)}
      WHERE strpos(${sql.ref(column_name)}::text, ${needle}) > 0`.execute(db);
    for (const row of rows) found.push(`${table_name}.${column_name}: ${row.value}`);
  }
  return found;
}

/** Which table.column pairs hold `needle` (the values left out, for readable expectations). */
const placesOf = async (db: Db, needle: string) => [
  ...new Set((await whereIs(db, needle)).map((hit) => hit.slice(0, hit.indexOf(':')))),
];

/** Every file under `dir`, with its content. */
async function filesUnder(dir: string): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, name);
    if ((await stat(file)).isFile()) out.push({ file: name, text: await readFile(file, 'utf8') });
  }
  return out;
}

describe("a subscriber's data through its whole life", () => {
  let server: LocalServer;
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-privacy-'));
    server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(await freePort()), LOG_LEVEL: 'INFO' },
      dataDir,
      outboxStepDelayMs: 20,
      announce: false,
    });
    logger.setLogLevel('INFO');
  });
  afterEach(async () => {
    await server?.stop();
    logger.setLogLevel('SILENT');
    await rm(dataDir, { recursive: true, force: true });
  });

  const api = (method: string, route: string, body?: unknown) =>
    fetch(`${server.runtime.config.PUBLIC_BASE_URL}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${server.runtime.config.secrets.API_TOKEN}`,
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const text = (from: string, body: string) => textAsSubscriber(server.simulator, from, body);
  const status = async () =>
    (await db().selectFrom('subscribers').select('status').where('phone', '=', PHONE).executeTakeFirst())
      ?.status;

  /** Everything a subscriber's life writes, through the API and the signed webhooks. */
  async function liveALife(): Promise<{ messageBody: string }> {
    expect(
      (await api('POST', '/api/subscribers', { phone: PHONE, name: NAME, timeZone: 'UTC' })).status,
    ).toBe(201);
    expect((await text(PHONE, 'YES')).status).toBe(200);
    expect(await status()).toBe('active');
    expect((await api('POST', `/api/subscribers/${encodeURIComponent(PHONE)}/send-now`)).status).toBe(202);
    const delivery = await eventually(
      "today's message delivered",
      () => deliveriesWithStatus(db()).executeTakeFirstOrThrow(),
      (d) => d.delivery_status === 'delivered',
    );
    // The writer greets by first name: the name is in the message text too.
    expect(delivery.body).toContain(NAME);
    expect((await text(PHONE, DIARY)).status).toBe(200);
    expect((await text(PHONE, 'HELP')).status).toBe(200);
    expect((await text(STRANGER, WRONG_NUMBER)).status).toBe(200);
    expect((await text(PHONE, 'STOP')).status).toBe(200);
    expect(await status()).toBe('opted_out');
    expect((await text(PHONE, 'START')).status).toBe(200);
    expect(await status()).toBe('active');
    const removed = await api('DELETE', `/api/subscribers/${encodeURIComponent(PHONE)}`);
    expect(removed.status).toBe(200);
    expect(await removed.json()).toMatchObject({ phone: PHONE, status: 'opted_out', name: null });
    await server.runtime.outbox?.drain();
    return { messageBody: delivery.body as string };
  }

  /** Moves every stored moment `days` into the past, as if that much time had gone by. */
  async function letDaysPass(days: number): Promise<void> {
    const { rows } = await sql<{ table_name: string; column_name: string }>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'
        AND data_type = 'timestamp with time zone'`.execute(db());
    // Triggers (updated_at, the consent ledger's append-only guard) would refuse or undo the move.
    await db()
      .connection()
      .execute(async (conn) => {
        await sql`SET session_replication_role = replica`.execute(conn);
        try {
          // One statement per table: its CHECKs compare its moments with each other.
          const byTable = new Map<string, typeof rows>();
          for (const row of rows) byTable.set(row.table_name, [...(byTable.get(row.table_name) ?? []), row]);
          for (const [table, columns] of byTable) {
            const moved = columns.map(
              (c) =>
                sql`${sql.ref(c.column_name)} = ${sql.ref(c.column_name)} - make_interval(days => ${days})`,
            );
            await sql`UPDATE ${sql.table(table)} SET ${sql.join(moved)}`.execute(conn);
          }
        } finally {
          await sql`SET session_replication_role = DEFAULT`.execute(conn);
        }
      });
  }

  /** The operator runs the retention job from the command line. */
  async function cleanupFromTheCli(): Promise<void> {
    const out: string[] = [];
    const code = await runCli(['node', 'positivity', 'cleanup', '--json'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: url(),
        DPS_DATA_DIR: dataDir,
        PUBLIC_BASE_URL: 'http://127.0.0.1:9',
      },
      out: (line) => out.push(line),
      err: (line) => out.push(line),
    });
    expect(code, out.join('\n')).toBe(0);
  }

  it('after DELETE the name is erased wherever the service put it; the number stays only as consent proof', async () => {
    await liveALife();

    // The name went into the message text (the writer greets by it): DELETE erases it there too. Only the
    // outbox, which stands in for Twilio's own message log, still has its copy of what was sent.
    expect(await placesOf(db(), NAME)).toEqual(['outbox_messages.body']);
    // Until retention: the ledger (proof), the row (remembers the opt-out), their texts and the stranger's.
    expect((await placesOf(db(), PHONE)).sort()).toEqual(
      [
        'consent_events.phone',
        'inbound_messages.from_phone',
        'outbox_messages.to_phone',
        'subscribers.phone',
      ].sort(),
    );
  });

  it('after RETENTION_DAYS only the consent proof and the opted-out row hold the number, and no text is left', async () => {
    const { messageBody } = await liveALife();

    // Act: 91 days go by, the operator runs the retention job from the command line.
    await letDaysPass(91);
    await cleanupFromTheCli();

    // Assess: the number only where the docs keep it, as consent proof; no text anyone wrote or was sent.
    expect((await placesOf(db(), PHONE)).sort()).toEqual(['consent_events.phone', 'subscribers.phone']);
    expect(await whereIs(db(), STRANGER)).toEqual([]);
    for (const words of [DIARY, WRONG_NUMBER, messageBody, NAME])
      expect(await whereIs(db(), words)).toEqual([]);
    // The ledger keeps the keywords that changed consent (what the subscriber texted), and nothing else.
    const ledger = await db()
      .selectFrom('consent_events')
      .select(['kind', 'source', 'trigger_text'])
      .execute();
    expect(
      ledger
        .map((e) => e.trigger_text)
        .filter(Boolean)
        .sort(),
    ).toEqual(['START', 'STOP', 'YES']);
  });

  it('forgets a sign-up nobody answered: the row after PENDING_EXPIRY_DAYS, the request texted after RETENTION_DAYS, the ledger keeps its proof', async () => {
    // Prepare: an operator adds someone's number and name; the YES request goes out, no answer ever comes.
    expect(
      (await api('POST', '/api/subscribers', { phone: INVITEE, name: INVITEE_NAME, timeZone: 'UTC' })).status,
    ).toBe(201);
    await server.runtime.outbox?.drain();
    expect((await placesOf(db(), INVITEE)).sort()).toEqual(
      ['consent_events.phone', 'outbox_messages.to_phone', 'subscribers.phone'].sort(),
    );

    // Act: 31 days go by (PENDING_EXPIRY_DAYS is 30), the retention job runs.
    await letDaysPass(31);
    await cleanupFromTheCli();

    // Assess: the row and the name are gone. The ledger's record of the request stays, no longer tied to a
    // row, as proof of why we texted them (until CONSENT_RETENTION_DAYS, like everyone's), and the outbox's
    // copy of the request (Twilio's own log, in AWS) until RETENTION_DAYS.
    expect((await placesOf(db(), INVITEE)).sort()).toEqual([
      'consent_events.phone',
      'outbox_messages.to_phone',
    ]);
    expect(await whereIs(db(), INVITEE_NAME)).toEqual([]);
    await letDaysPass(60);
    await cleanupFromTheCli();
    expect(await placesOf(db(), INVITEE)).toEqual(['consent_events.phone']);
  });

  it('writes no full number, name or text to the logs at INFO, nor to files in the data directory', async () => {
    const { messageBody } = await liveALife();

    const printed = logs.join('');
    expect(printed.length).toBeGreaterThan(0);
    for (const secret of [
      PHONE,
      PHONE.slice(2),
      STRANGER,
      STRANGER.slice(2),
      NAME,
      DIARY,
      WRONG_NUMBER,
      messageBody,
    ])
      expect(printed).not.toContain(secret);
    for (const { file, text } of await filesUnder(dataDir))
      for (const secret of [PHONE.slice(2), STRANGER.slice(2), NAME, DIARY, WRONG_NUMBER])
        expect(text, file).not.toContain(secret);
  });
});

describe('npm start applies retention', () => {
  let server: LocalServer | undefined;
  let dataDir: string;
  afterEach(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('clears what is past RETENTION_DAYS and PENDING_EXPIRY_DAYS when it starts, as the daily cleanup Lambda does in AWS', async () => {
    // Prepare: a machine left with a text, a message and its outbox copy from 100 days ago.
    const old = new Date(Date.now() - 100 * 86_400_000);
    const { id } = await db()
      .insertInto('subscribers')
      .values({ phone: PHONE, status: 'active', time_zone: 'UTC', confirmed_at: old })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db()
      .insertInto('inbound_messages')
      .values({
        message_sid: `SM${'a'.repeat(32)}`,
        from_phone: PHONE,
        body: DIARY,
        classification: 'other',
        subscriber_id: id,
        received_at: old,
      } as never)
      .execute();
    await db()
      .insertInto('deliveries')
      .values({
        subscriber_id: id,
        local_date: old.toISOString().slice(0, 10),
        time_zone: 'UTC',
        window_start: old,
        window_end: new Date(old.getTime() + 3_600_000),
        planned_at: old,
        state: 'sent',
        claimed_at: old,
        sent_at: old,
        message_sid: `SM${'b'.repeat(32)}`,
        body: `Hi ${NAME}! You matter.`,
        created_at: old,
      } as never)
      .execute();
    await db()
      .insertInto('outbox_messages')
      .values({
        sid: `SM${'b'.repeat(32)}`,
        to_phone: PHONE,
        from_phone: '+15005550006',
        body: `Hi ${NAME}! You matter.`,
        status: 'delivered',
        created_at: old,
      } as never)
      .execute();
    // And a sign-up nobody answered for 100 days, as the API writes it: the row and the ledger's request.
    const { id: invitee } = await db()
      .insertInto('subscribers')
      .values({
        phone: INVITEE,
        status: 'pending',
        time_zone: 'UTC',
        name: INVITEE_NAME,
        created_at: old,
      } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    await db()
      .insertInto('consent_events')
      .values({
        subscriber_id: invitee,
        phone: INVITEE,
        kind: 'opt_in',
        source: 'api',
        created_at: old,
      } as never)
      .execute();
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-privacy-'));

    // Act
    server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(await freePort()), LOG_LEVEL: 'SILENT' },
      dataDir,
      announce: false,
    });

    // Assess: the texts are gone; the subscriber and the delivery row (history) stay.
    await eventually(
      'retention applied',
      async () => [...(await whereIs(db(), NAME)), ...(await whereIs(db(), INVITEE_NAME))],
      (hits) => hits.length === 0,
    );
    expect(await whereIs(db(), DIARY)).toEqual([]);
    expect(await placesOf(db(), PHONE)).toEqual(['subscribers.phone']);
    // The invitee's row is gone; the ledger's record of the request stays (CONSENT_RETENTION_DAYS), unlinked.
    expect(await placesOf(db(), INVITEE)).toEqual(['consent_events.phone']);
    const kept = db()
      .selectFrom('deliveries')
      .select(['state', 'body'])
      .where('message_sid', '=', `SM${'b'.repeat(32)}`);
    expect(await kept.execute()).toEqual([{ state: 'sent', body: null }]);
  });
});
