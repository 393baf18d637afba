// The HTTP app's own log lines ('rate limited', 'database unavailable', 'unhandled error') never carry a
// subscriber's number, however the number is formatted or encoded in the path: they name the matched route
// pattern, not the path, and the logger masks formatted numbers too. The app runs in-process (directly and
// through hono's Lambda adapter, which gets API Gateway's decoded rawPath) on a database whose every
// connection fails, or with a limiter that refuses every request; nothing here does I/O.
import fc from 'fast-check';
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, dbOnPool } from '../../src/db/connection.js';
import { logger } from '../../src/logger.js';
import { captureStdout } from '../support/capture-stdout.js';
import { type FormattedPhone, formattedPhone, holdsDigitsInSequence } from '../support/formatted-phones.js';
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js';
import { API_TOKEN, CountingLimiter, testApp } from '../support/webhook-doubles.js';

const AUTH = { authorization: `Bearer ${API_TOKEN}` };

/** A database whose every connection attempt fails with `failure()`: no server, no socket. */
function failingDb(failure: () => Error): Db {
  const pool = { connect: async () => Promise.reject(failure()), end: async () => {}, idleCount: 0 };
  return dbOnPool(pool as never, { namedStatements: false });
}

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const broken = () => new Error('invalid byte sequence for encoding "UTF8": 0x00');

/** Test sends reach the database (and fail there) instead of answering 503 for want of a starter. */
const starter = { start: async () => {} };

/** Each logging site, the app that reaches it for any /api/subscribers/:phone request, and its answer. */
const SITES: { message: string; status: number; app: () => Hono }[] = [
  {
    message: 'rate limited',
    status: 429,
    app: () => testApp({ db: failingDb(broken), limiter: new CountingLimiter(0), starter }),
  },
  { message: 'database unavailable', status: 503, app: () => testApp({ db: failingDb(refused), starter }) },
  { message: 'unhandled error', status: 500, app: () => testApp({ db: failingDb(broken), starter }) },
];

const written = captureStdout({ stderr: true });
beforeEach(() => logger.setLogLevel('DEBUG'));
afterEach(() => logger.setLogLevel('SILENT'));

type Transport = 'in-process' | 'lambda';

async function request(app: Hono, via: Transport, method: string, path: string): Promise<number> {
  if (via === 'in-process') return (await app.request(path, { method, headers: AUTH })).status;
  const result = (await handle(app)(
    httpApiEvent(method, path, { headers: AUTH }) as never,
    lambdaContext,
  )) as {
    statusCode: number;
  };
  return result.statusCode;
}

describe('request logs and phone numbers in the path', () => {
  for (const site of SITES) {
    it(`'${site.message}' never carries the number, however it is written (property)`, async () => {
      const app = site.app();
      await fc.assert(
        fc.asyncProperty(
          formattedPhone,
          fc.constantFrom<Transport>('in-process', 'lambda'),
          fc.constantFrom('GET', 'DELETE'),
          async (phone: FormattedPhone, via, method) => {
            written.length = 0;
            const status = await request(app, via, method, `/api/subscribers/${phone.encoded}`);
            const logs = written.join('');
            expect(status, `${via} ${method} ${phone.encoded}`).toBe(site.status);
            expect(logs).toContain(`"message":"${site.message}"`);
            expect(holdsDigitsInSequence(logs, phone.national), logs).toBe(false);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it('names the route pattern the request matched, not its path', async () => {
    for (const site of SITES) {
      written.length = 0;
      await site.app().request('/api/subscribers/%2B1%20415%20555%200117/send-now', {
        method: 'POST',
        headers: AUTH,
      });
      const line = written.map((l) => JSON.parse(l)).find((l) => l.message === site.message);
      expect(line, site.message).toMatchObject({ route: '/api/subscribers/:phone/send-now' });
      expect(line).not.toHaveProperty('path');
    }
  });
});
