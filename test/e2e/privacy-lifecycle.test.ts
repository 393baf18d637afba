// A subscriber's data through its whole life, driven from the outside: the one-machine server on real HTTP
// and real Postgres, sign-up through the API, texts through the signed inbound route, a message sent and
// delivered (the outbox's signed callbacks), a text from a stranger, STOP, START, DELETE, then retention.
// After each step every column of every table (information_schema, not a list kept by hand) is searched for
// the number, the name and the texts, and held to what the docs promise (docs/observability.md, "Privacy
// and retention"); so are the log lines at INFO and the files in the data directory.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/connection.js';
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
  const text = (from: string, body: string) =>
    textAsSubscriber(
      {
        db: db(),
        publicBaseUrl: server.runtime.config.PUBLIC_BASE_URL,
        serverUrl: server.url,
        authToken: server.runtime.config.secrets.TWILIO_AUTH_TOKEN,
        serviceNumber: server.runtime.serviceNumber,
      },
      from,
      body,
    );
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
