import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilioWebhooks from 'twilio/lib/webhooks/webhooks.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { E164 } from '../../src/domain/phone.js';
import { OUTBOX_ACCOUNT_SID, OutboxSmsSender } from '../../src/local/outbox.js';
import { useTestDb } from '../support/db.js';

const { db } = useTestDb();
const AUTH_TOKEN = 'outbox-test-auth-token-0123456789';

describe('OutboxSmsSender', () => {
  let server: Server;
  let statusUrl: string;
  let received: { params: Record<string, string>; validSignature: boolean }[];
  let answer = 204;

  beforeEach(async () => {
    received = [];
    answer = 204;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(body));
        const signature = String(req.headers['x-twilio-signature'] ?? '');
        received.push({
          params,
          validSignature: twilioWebhooks.validateRequest(AUTH_TOKEN, signature, statusUrl, params),
        });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    statusUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/twilio/status`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const outbox = () =>
    new OutboxSmsSender({ db: db(), from: '+14155550100', authToken: AUTH_TOKEN, stepDelayMs: 5 });

  it('stores the text and posts signed sent → delivered callbacks in order', async () => {
    const sender = outbox();
    const receipt = await sender.send({
      to: '+12125550123' as E164,
      body: 'You matter.',
      statusCallback: statusUrl,
    });
    expect(receipt).toMatchObject({ status: 'queued' });
    expect(receipt.sid).toMatch(/^SM[0-9a-f]{32}$/);
    await sender.drain();

    expect(received.map((r) => [r.params.MessageStatus, r.validSignature])).toEqual([
      ['sent', true],
      ['delivered', true],
    ]);
    expect(received[1]?.params).toMatchObject({
      MessageSid: receipt.sid,
      SmsSid: receipt.sid,
      To: '+12125550123',
      From: '+14155550100',
      AccountSid: OUTBOX_ACCOUNT_SID,
    });
    const row = await db().selectFrom('outbox_messages').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ sid: receipt.sid, body: 'You matter.', status: 'delivered' });
  });

  it('stops at the step whose callback was refused, and resume() carries on after a restart', async () => {
    answer = 503;
    const first = outbox();
    const { sid } = await first.send({
      to: '+12125550123' as E164,
      body: 'Hello',
      statusCallback: statusUrl,
    });
    await first.drain();
    expect(received.map((r) => r.params.MessageStatus)).toEqual(['sent']);

    answer = 204;
    received = [];
    const second = outbox();
    expect(await second.resume()).toBe(1);
    await second.drain();
    expect(received.map((r) => r.params.MessageStatus)).toEqual(['delivered']);
    const row = await db()
      .selectFrom('outbox_messages')
      .select('status')
      .where('sid', '=', sid)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('delivered');
  });
});
