// The order kept webhooks are applied in once the database is back: each subscriber's in the order they
// arrived, and the subscribers who opted out before the rest.
import { describe, expect, it } from 'vitest';
import type { KeptWebhook } from '../../src/services/ports.js';
import { drainOrder, isOptOut, parseKeptWebhook } from '../../src/services/webhook-spool.js';

const A = '+12125550123';
const B = '+12125550124';
const C = '+12125550125';

const inbound = (sid: string, body: string, at: string, from = A): KeptWebhook => ({
  type: 'inbound',
  messageSid: sid,
  from,
  to: null,
  body,
  optOutType: null,
  receivedAt: at,
});
const status = (sid: string, optedOut: boolean, at: string, to = A): KeptWebhook => ({
  type: 'status',
  messageSid: sid,
  status: optedOut ? 'failed' : 'delivered',
  errorCode: optedOut ? 21610 : null,
  recipientOptedOut: optedOut,
  to,
  receivedAt: at,
});
const at = (second: number) => `2026-12-01T10:00:${String(second).padStart(2, '0')}.000Z`;

describe('drainOrder', () => {
  it("applies one subscriber's webhooks in the order they arrived: START then STOP ends opted out", () => {
    const kept = [inbound('stop', 'STOP', at(2)), inbound('start', 'START', at(1))];
    expect(drainOrder(kept).map((w) => w.messageSid)).toEqual(['start', 'stop']);
    const reverse = [inbound('start', 'START', at(2)), status('carrier', true, at(1))];
    expect(drainOrder(reverse).map((w) => w.messageSid)).toEqual(['carrier', 'start']);
  });

  it('puts the subscribers who opted out (SMS keyword or phrase, carrier) before everyone else', () => {
    const kept = [
      inbound('a', 'hello', at(0), C),
      status('b', false, at(1), C),
      inbound('f', 'START', at(2), A),
      status('d', true, at(3), B),
      inbound('e', 'STOP', at(4), A),
      inbound('c', 'please stop texting me', at(5), C),
    ];
    // Each sender is taken whole, in the order of its first webhook: C (0 s), A (2 s), B (3 s) all opted out.
    expect(drainOrder(kept).map((w) => w.messageSid)).toEqual(['a', 'b', 'c', 'f', 'e', 'd']);
    expect(kept.filter(isOptOut).map((w) => w.messageSid)).toEqual(['d', 'e', 'c']);
    const withBystander = [inbound('x', 'hello', at(0), B), inbound('y', 'STOP', at(1), A)];
    expect(drainOrder(withBystander).map((w) => w.messageSid)).toEqual(['y', 'x']);
  });
});

describe('parseKeptWebhook', () => {
  it('reads back what was kept and refuses what is not a kept webhook', () => {
    const w = status('SMx', true, '2026-12-01T10:00:00.000Z');
    expect(parseKeptWebhook(JSON.stringify(w))).toEqual(w);
    expect(parseKeptWebhook('{"type":"inbound"}')).toBeNull();
    expect(parseKeptWebhook('not json')).toBeNull();
  });

  it('reads a kept text with the reply token of the request that kept it, and one kept without (older code)', () => {
    const older = inbound('SMa', 'please stop texting me', at(0));
    const kept = { ...older, replyToken: '3f2b8c1e-5d4a-4f6b-9c7d-2e1a0b9c8d7e' };
    expect(parseKeptWebhook(JSON.stringify(kept))).toEqual(kept);
    expect(parseKeptWebhook(JSON.stringify(older))).toEqual(older);
    expect(parseKeptWebhook(JSON.stringify({ ...older, replyToken: 'not-a-uuid' }))).toBeNull();
  });
});
