// The webhooks baselines: bare node:http servers that parse the form body and answer after one statement
// on the same Postgres. `startBareServer` does one INSERT per request (the target's baseline): what the
// real app adds on top is signature checking, validation, classification, dedupe, consent bookkeeping and
// a transaction. `startBareCallServer` makes the app's own SQL function call instead, so the app measured
// against it shows what the application costs over its database work.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { matchInbound } from '../../src/domain/inbound-keywords.js';

type Listening = { url: string; close(): Promise<void> };

/** Reads the whole body, then hands the parsed form to `answer`. */
function formServer(answer: (path: string, form: URLSearchParams, res: ServerResponse) => void) {
  return createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => answer(req.url ?? '/', new URLSearchParams(body), res));
  });
}

async function listen(server: Server, close: () => Promise<void>): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
    },
  };
}

export async function startBareServer(databaseUrl: string, poolMax = 10): Promise<Listening> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
  pool.on('error', (error) =>
    console.error(`bare server: idle database connection closed: ${error.message}`),
  );
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_bare_inbound (sid text PRIMARY KEY, from_phone text, body text, at timestamptz DEFAULT now())',
  );
  const server = formServer((_path, form, res) => {
    pool
      .query(
        'INSERT INTO bench_bare_inbound (sid, from_phone, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [form.get('MessageSid'), form.get('From'), form.get('Body')],
      )
      .then(
        () => res.writeHead(200, { 'content-type': 'text/xml' }).end('<Response/>'),
        () => res.writeHead(500).end(),
      );
  });
  return listen(server, async () => {
    await pool.query('DROP TABLE IF EXISTS bench_bare_inbound');
    await pool.end();
  });
}

/**
 * The same bare server making the app's SQL call per request — receive_inbound_sms or
 * receive_status_callback, as named prepared statements with the bench app's settings — and nothing else:
 * no signature check, no validation beyond reading the form, no framework, no logging, no reply text.
 */
export async function startBareCallServer(
  databaseUrl: string,
  settings: { defaultTimeZone: string; limitPerMinute: number },
  poolMax = 10,
): Promise<Listening> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
  pool.on('error', (error) =>
    console.error(`bare call server: idle database connection closed: ${error.message}`),
  );
  const server = formServer((path, form, res) => {
    const now = new Date();
    const call =
      path === '/twilio/inbound'
        ? pool.query({
            name: 'bench_receive_inbound_sms',
            text: 'SELECT * FROM receive_inbound_sms($1, $2, $3, $4, $5, $6, $7, $8::integer, $9::uuid, $10::uuid)',
            values: [
              form.get('MessageSid'),
              form.get('From'),
              form.get('To'),
              form.get('Body') ?? '',
              matchInbound(form.get('Body')).kind,
              settings.defaultTimeZone,
              now,
              settings.limitPerMinute,
              // The app's overload: a reply token per request, none kept (migration 2026-12-01T1800).
              randomUUID(),
              null,
            ],
          })
        : pool.query({
            name: 'bench_receive_status_callback',
            text: 'SELECT * FROM receive_status_callback($1, $2, $3::integer, $4, $5, $6, $7::integer)',
            values: [
              form.get('MessageSid'),
              form.get('MessageStatus') ?? form.get('SmsStatus'),
              form.get('ErrorCode') || null,
              form.get('ErrorCode') === '21610',
              form.get('To'),
              now,
              settings.limitPerMinute,
            ],
          });
    call.then(
      () => res.writeHead(200, { 'content-type': 'text/xml' }).end('<Response/>'),
      () => res.writeHead(500).end(),
    );
  });
  return listen(server, () => pool.end());
}
