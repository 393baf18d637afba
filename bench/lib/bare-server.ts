// The webhooks baseline: a bare node:http server that parses the form body and does one INSERT per
// request on the same Postgres, answering empty TwiML. What the real app adds on top is signature
// checking, validation, classification, dedupe, consent bookkeeping and a transaction.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';

export async function startBareServer(
  databaseUrl: string,
  poolMax = 10,
): Promise<{ url: string; close(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
  pool.on('error', (error) =>
    console.error(`bare server: idle database connection closed: ${error.message}`),
  );
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_bare_inbound (sid text PRIMARY KEY, from_phone text, body text, at timestamptz DEFAULT now())',
  );
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
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
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.query('DROP TABLE IF EXISTS bench_bare_inbound');
      await pool.end();
    },
  };
}
