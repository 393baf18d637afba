import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { countSegments, gsmLength } from '../../src/domain/gsm.js';
import {
  doubleOptInRequest,
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
    expect(countSegments(text)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
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
    for (const text of [optInConfirmation(longest), optOutConfirmation(longest), doubleOptInRequest(longest)])
      expect(countSegments(text).segments).toBe(1);
    expect(helpReply(longest)).toContain(longest.helpContact);
  });
});

describe('replies for any name and contact the configuration accepts', () => {
  // Carrier billing (src/domain/gsm.ts): one emoji or curly quote makes the whole reply UCS-2, 70 a segment.
  const gsmChar = fc.constantFrom(...'@£$¥èéÇØøÅåΔ_ΦÆæßÉ !"#¤%&\'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà^{}\\[~]|€');
  const accepted = (key: 'SERVICE_NAME' | 'HELP_CONTACT', value: string) => {
    try {
      loadConfig({ [key]: value });
      return true;
    } catch {
      return false;
    }
  };

  it('refuses a SERVICE_NAME or HELP_CONTACT that would make every reply UCS-2, naming the character', () => {
    for (const [key, value, shown] of [
      ['SERVICE_NAME', 'Ana’s Kindness', 'U\\+2019'],
      ['SERVICE_NAME', 'Sunshine ☀', 'U\\+2600'],
      ['HELP_CONTACT', 'help@zoë.example', 'U\\+00EB'],
    ] as const) {
      expect(() => loadConfig({ [key]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [key]: value })).toThrow(new RegExp(`${key}: .*GSM-7.*${shown}`));
    }
  });

  it('keeps the confirmations and the double opt-in request to one segment', () => {
    fc.assert(
      fc.property(fc.string({ unit: gsmChar, minLength: 1, maxLength: 40 }), (name) => {
        fc.pre(accepted('SERVICE_NAME', name));
        const settings = { serviceName: name, helpContact: 'support@example.com' };
        for (const text of [
          optInConfirmation(settings),
          optOutConfirmation(settings),
          doubleOptInRequest(settings),
        ])
          expect(countSegments(text)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
      }),
      { examples: [['€'.repeat(40)], ['{'.repeat(20) + 'N'.repeat(20)]] },
    );
  });

  it('keeps HELP in GSM-7, and to one segment while the name and contact leave room', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: gsmChar, minLength: 1, maxLength: 40 }),
        fc.string({ unit: gsmChar, minLength: 3, maxLength: 80 }),
        (name, contact) => {
          fc.pre(accepted('SERVICE_NAME', name) && accepted('HELP_CONTACT', contact));
          const text = helpReply({ serviceName: name, helpContact: contact });
          const count = countSegments(text);
          expect(count.encoding).toBe('GSM-7');
          if (gsmLength(name) + gsmLength(contact) <= 100) expect(count.segments).toBe(1);
        },
      ),
    );
  });
});
