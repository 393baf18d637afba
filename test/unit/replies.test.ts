import { describe, expect, it } from 'vitest';
import {
  doubleOptInRequest,
  fitsOneSegment,
  gsm7Length,
  helpReply,
  optInConfirmation,
  optOutConfirmation,
} from '../../src/domain/replies.js';

const defaults = { serviceName: 'Daily Positivity', helpContact: 'support@example.com' };
const longest = { serviceName: 'N'.repeat(40), helpContact: `${'c'.repeat(68)}@example.com` };

describe('replies', () => {
  it.each([
    ['opt-in confirmation', optInConfirmation],
    ['opt-out confirmation', optOutConfirmation],
    ['help', helpReply],
    ['double opt-in request', doubleOptInRequest],
  ])('%s is one GSM-7 segment with the default settings and starts with the service name', (_name, build) => {
    const text = build(defaults);
    expect(gsm7Length(text)).not.toBeNull();
    expect(gsm7Length(text)).toBeLessThanOrEqual(160);
    expect(text.startsWith('Daily Positivity:')).toBe(true);
  });

  it('opt-in confirmation carries the CTIA elements', () => {
    const text = optInConfirmation(defaults);
    for (const part of ['1 msg/day', 'Msg & data rates may apply', 'Reply HELP for help, STOP to opt out']) {
      expect(text).toContain(part);
    }
  });

  it('help names frequency, how to stop and the contact', () => {
    const text = helpReply(defaults);
    for (const part of ['1 positive msg/day', 'STOP', 'support@example.com', 'Msg & data rates may apply']) {
      expect(text).toContain(part);
    }
  });

  it('double opt-in asks for YES', () => expect(doubleOptInRequest(defaults)).toContain('Reply YES'));

  it('falls back to shorter wording for the longest allowed name and contact', () => {
    expect(fitsOneSegment(optInConfirmation(longest))).toBe(true);
    expect(fitsOneSegment(optOutConfirmation(longest))).toBe(true);
    expect(fitsOneSegment(doubleOptInRequest(longest))).toBe(true);
    expect(helpReply(longest)).toContain(longest.helpContact);
  });

  it('counts GSM-7 extension characters twice and rejects non-GSM characters', () => {
    expect(gsm7Length('a€')).toBe(3);
    expect(gsm7Length('hi 😊')).toBeNull();
    expect(fitsOneSegment('😊'.repeat(35))).toBe(true); // 2 UTF-16 units each
    expect(fitsOneSegment('😊'.repeat(36))).toBe(false);
  });
});
