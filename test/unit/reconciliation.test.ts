import { describe, expect, it } from 'vitest';
import { isFinalStatus } from '../../src/domain/delivery-status.js';
import { chooseCandidate } from '../../src/domain/reconciliation.js';
import { deadlineFrom } from '../../src/handlers/scheduled.js';
import type { ProviderMessage } from '../../src/services/ports.js';

const msg = (sid: string, direction: string, body: string): ProviderMessage => ({
  sid,
  status: 'delivered',
  errorCode: null,
  to: '+14155550123',
  direction,
  dateCreated: null,
  dateSent: null,
  body,
  segments: 1,
});

describe('chooseCandidate', () => {
  it.each([
    ['nothing sent', [], 'hi', 'none'],
    ['only inbound', [msg('SM1', 'inbound', 'hi')], 'hi', 'none'],
    ['one outbound, our text', [msg('SM1', 'outbound-api', 'hi'), msg('SM2', 'inbound', 'hi')], 'hi', 'SM1'],
    // A HELP reply or an opt-in request to the same number is not our daily message.
    ['one outbound, another text', [msg('SM1', 'outbound-api', 'Reply STOP to opt out')], 'hi', 'none'],
    ['one outbound, body unknown', [msg('SM1', 'outbound-api', 'hi')], null, 'ambiguous'],
    [
      'one outbound, text erased by Twilio',
      [{ ...msg('SM1', 'outbound-api', ''), body: null }],
      'hi',
      'ambiguous',
    ],
    [
      'our text twice',
      [msg('SM1', 'outbound-api', 'hi'), msg('SM2', 'outbound-api', 'hi')],
      'hi',
      'ambiguous',
    ],
    [
      'two, one matches the body',
      [msg('SM1', 'outbound-api', 'a'), msg('SM2', 'outbound-api', 'hi')],
      'hi',
      'SM2',
    ],
    ['two, none matches', [msg('SM1', 'outbound-api', 'a'), msg('SM2', 'outbound-api', 'b')], 'hi', 'none'],
    [
      'two, body unknown',
      [msg('SM1', 'outbound-api', 'a'), msg('SM2', 'outbound-api', 'b')],
      null,
      'ambiguous',
    ],
  ] as const)('%s', (_name, messages, body, expected) => {
    const choice = chooseCandidate([...messages], body);
    expect(choice.kind === 'one' ? choice.message.sid : choice.kind).toBe(expected);
  });
});

it.each([
  ['delivered', true],
  ['undelivered', true],
  ['failed', true],
  ['canceled', true],
  ['partially_delivered', true],
  ['read', true],
  ['sent', false],
  ['accepted', false],
  ['receiving', false],
  ['no-such-status', false],
  ['queued', false],
  [null, false],
])('isFinalStatus(%j) = %s', (status, final) => expect(isFinalStatus(status)).toBe(final));

it('deadlineFrom leaves each scheduled Lambda its margin before it times out', () => {
  expect(deadlineFrom({ getRemainingTimeInMillis: () => 900_000 }, 'planner', 0)?.getTime()).toBe(870_000);
  expect(deadlineFrom({ getRemainingTimeInMillis: () => 300_000 }, 'reconcile', 0)?.getTime()).toBe(210_000);
  expect(deadlineFrom({ getRemainingTimeInMillis: () => 900_000 }, 'cleanup', 0)?.getTime()).toBe(810_000);
  expect(deadlineFrom({ getRemainingTimeInMillis: () => 10_000 }, 'planner', 0)?.getTime()).toBe(0);
  expect(deadlineFrom(undefined, 'planner')).toBeUndefined();
});
