// The order kept webhooks are applied in once the database is back: opt-outs first, then by arrival.
import { describe, expect, it } from 'vitest';
import type { KeptWebhook } from '../../src/services/ports.js';
import { drainOrder, isOptOut, parseKeptWebhook } from '../../src/services/webhook-spool.js';

const inbound = (sid: string, body: string, at: string): KeptWebhook => ({
  type: 'inbound',
  messageSid: sid,
  from: '+12125550123',
  to: null,
  body,
  optOutType: null,
  receivedAt: at,
});
const status = (sid: string, optedOut: boolean, at: string): KeptWebhook => ({
  type: 'status',
  messageSid: sid,
  status: optedOut ? 'failed' : 'delivered',
  errorCode: optedOut ? 21610 : null,
  recipientOptedOut: optedOut,
  to: '+12125550123',
  receivedAt: at,
});

describe('drainOrder', () => {
  it('puts every opt-out (SMS keyword or phrase, carrier) before anything else, each group by arrival', () => {
    const kept = [
      inbound('a', 'hello', '2026-12-01T10:00:00.000Z'),
      status('b', false, '2026-12-01T10:00:01.000Z'),
      inbound('c', 'please stop texting me', '2026-12-01T10:00:05.000Z'),
      status('d', true, '2026-12-01T10:00:03.000Z'),
      inbound('e', 'STOP', '2026-12-01T10:00:04.000Z'),
      inbound('f', 'START', '2026-12-01T10:00:02.000Z'),
    ];
    expect(drainOrder(kept).map((w) => w.messageSid)).toEqual(['d', 'e', 'c', 'a', 'b', 'f']);
    expect(kept.filter(isOptOut).map((w) => w.messageSid)).toEqual(['c', 'd', 'e']);
  });
});

describe('parseKeptWebhook', () => {
  it('reads back what was kept and refuses what is not a kept webhook', () => {
    const w = status('SMx', true, '2026-12-01T10:00:00.000Z');
    expect(parseKeptWebhook(JSON.stringify(w))).toEqual(w);
    expect(parseKeptWebhook('{"type":"inbound"}')).toBeNull();
    expect(parseKeptWebhook('not json')).toBeNull();
  });
});
