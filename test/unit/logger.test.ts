// The logger masks phone numbers and removes secrets on every line, whatever the caller passes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  appendCorrelationKeys,
  correlated,
  createLogger,
  DEBUG_ONLY,
  logInboundText,
  maskPhonesInText,
  REDACTED,
  withCorrelation,
} from '../../src/logger.js';
import { captureStdout } from '../support/capture-stdout.js';
import { formattedPhone, holdsDigitsInSequence } from '../support/formatted-phones.js';

const lines = captureStdout({ stderr: true });

const output = () => lines.join('');
const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('phone masking', () => {
  it.each([
    ['to +14155550123 now', 'to ***0123 now'],
    ['From=%2B12125550123&To=%2B14155550100', 'From=***0123&To=***0100'],
    ['+447911123456', '***3456'],
    ['order 1234567890123 (no plus) stays', 'order 1234567890123 (no plus) stays'],
    ['/api/subscribers/+1 415 555 0117', '/api/subscribers/***0117'],
    ['/api/subscribers/%2B1%20415%20555%200117', '/api/subscribers/***0117'],
    ['/api/subscribers/%2B1 (415) 555-0117/send-now', '/api/subscribers/***0117/send-now'],
    ['/api/subscribers/%2b1%28415%29555.0117', '/api/subscribers/***0117'],
    ['call +44 7700.900-123 today', 'call ***0123 today'],
    ['at 2026-11-25T12:00:00.000+01:00 took 15 ms', 'at 2026-11-25T12:00:00.000+01:00 took 15 ms'],
  ])('maskPhonesInText(%j) → %j', (input, expected) => expect(maskPhonesInText(input)).toBe(expected));

  it('masks numbers in the message, attributes, nested objects, errors and appended keys', () => {
    const log = createLogger({ level: 'DEBUG' });
    log.appendKeys({ subscriber: { phone: '+14155550123' } });
    log.info('sending to +12125550199', { to: '+13105550142', nested: { list: ['call +16175550177'] } });
    log.error('send failed', new Error('Twilio refused +15035550111'));
    log.warn('bare number under a phone key', { phone: '14085550166', From: '+19995550100' });
    const text = output();
    for (const full of ['4155550123', '2125550199', '3105550142', '6175550177', '5035550111', '4085550166'])
      expect(text).not.toContain(full);
    const [info, error, warn] = records();
    expect(info?.message).toBe('sending to ***0199');
    expect(info?.to).toBe('***0142');
    expect(info?.subscriber).toEqual({ phone: '***0123' });
    expect((error?.error as { message?: string } | undefined)?.message).toBe('Twilio refused ***0111');
    expect(warn?.phone).toBe('***0166');
  });

  it('an error logged as { error } keeps its stack and cause, with numbers and keys scrubbed everywhere', () => {
    const log = createLogger({ level: 'INFO' });
    const cause = new Error('socket closed while texting +14155550123');
    const error = new Error('Twilio refused +15035550111 (key sk-abcdefghijklmnopqrstuvwx)', { cause });
    log.error('send failed', { error });
    const text = output();
    for (const secret of ['4155550123', '5035550111', 'sk-abcdefghijklmnopqrstuvwx'])
      expect(text).not.toContain(secret);
    const logged = records()[0]?.error as {
      name: string;
      message: string;
      stack: string;
      cause: { message: string };
    };
    expect(logged.name).toBe('Error');
    expect(logged.message).toBe(`Twilio refused ***0111 (key ${REDACTED})`);
    expect(logged.stack).toContain('logger.test.ts');
    expect(logged.cause.message).toBe('socket closed while texting ***0123');
  });

  it("keeps an error's own plain fields and leaves out objects hung on it (pg attaches its client)", () => {
    const log = createLogger({ level: 'INFO' });
    const error = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
      severity: 'FATAL',
      client: { connectionParameters: { host: '127.0.0.1', port: 5432 }, processID: 28150 },
    });
    log.warn('database connection lost while idle; it will be replaced', { error });
    const logged = records()[0]?.error as Record<string, unknown>;
    expect(logged).toMatchObject({ name: 'Error', code: '57P01', severity: 'FATAL' });
    expect(logged).not.toHaveProperty('client');
    expect(output()).not.toContain('connectionParameters');
  });

  it('never prints any E.164 number in full (property)', () => {
    const log = createLogger({ level: 'INFO' });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.stringMatching(/^\d{6,14}$/),
        fc.string(),
        (first, rest, noise) => {
          lines.length = 0;
          const phone = `+${first}${rest}`;
          log.info(`${noise}${phone}`, { detail: `x${phone}` });
          const text = output();
          return !text.includes(phone) && text.includes(`***${phone.slice(-4)}`);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('masks a number however it is grouped or URL-encoded (property)', () => {
    const log = createLogger({ level: 'INFO' });
    fc.assert(
      fc.property(formattedPhone, fc.stringMatching(/^[a-z/=:]{0,12}$/), (phone, noise) => {
        lines.length = 0;
        log.warn(`${noise}${phone.encoded}`, { path: `/api/subscribers/${phone.encoded}/send-now` });
        const text = output();
        expect(holdsDigitsInSequence(text, phone.national), text).toBe(false);
        expect(text).toContain(`***${phone.e164.slice(-4)}`);
      }),
      { numRuns: 300 },
    );
  });
});

describe('secrets', () => {
  it('redacts secret-named attributes and secret-looking values', () => {
    const log = createLogger({ level: 'INFO' });
    const authToken = 'f3a9c1d2e4b5a6c7d8e9f0a1b2c3d4e5';
    const apiKey = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234';
    log.info('calling out', {
      TWILIO_AUTH_TOKEN: authToken,
      openaiApiKey: apiKey,
      headers: { Authorization: 'Bearer very-secret-api-token-123456', 'x-twilio-signature': 'abc=' },
      url: 'postgres://app:hunter2-password@db.internal:5432/app',
      note: `key was ${apiKey}`,
    });
    const text = output();
    for (const secret of [authToken, apiKey, 'very-secret-api-token-123456', 'hunter2-password', 'abc='])
      expect(text).not.toContain(secret);
    const [line] = records();
    expect(line?.TWILIO_AUTH_TOKEN).toBe(REDACTED);
    expect(line?.headers).toEqual({ Authorization: REDACTED, 'x-twilio-signature': REDACTED });
    expect(line?.url).toBe(`postgres://app:${REDACTED}@db.internal:5432/app`);
    expect(line?.note).toBe(`key was ${REDACTED}`);
  });

  it('keeps harmless values that merely look long (message SIDs, token counts)', () => {
    const log = createLogger({ level: 'INFO' });
    const sid = `SM${'a1'.repeat(16)}`;
    log.info('sent', { messageSid: sid, tokensIn: 42 });
    expect(records()[0]).toMatchObject({ messageSid: sid, tokensIn: 42 });
  });
});

describe('inbound text', () => {
  it('is logged only at DEBUG', () => {
    const info = createLogger({ level: 'INFO' });
    logInboundText('my secret feelings', { messageSid: 'SM1' }, info);
    info.info('inbound', { Body: 'my secret feelings', inboundText: 'my secret feelings' });
    expect(output()).not.toContain('my secret feelings');
    expect(records()[0]).toMatchObject({ Body: DEBUG_ONLY, inboundText: DEBUG_ONLY });

    lines.length = 0;
    const debug = createLogger({ level: 'DEBUG' });
    logInboundText('hello from +14155550123', { messageSid: 'SM1' }, debug);
    expect(records()[0]).toMatchObject({
      level: 'DEBUG',
      inboundText: 'hello from ***0123',
      messageSid: 'SM1',
    });
  });
});

describe('correlation keys', () => {
  it('a correlated child carries deliveryId, messageSid and scheduleName on every line', () => {
    const parent = createLogger({ level: 'INFO' });
    const child = correlated({ deliveryId: 'd-1', messageSid: 'SM9', scheduleName: 'send-d-1' }, parent);
    child.info('one');
    child.warn('two');
    for (const line of records())
      expect(line).toMatchObject({ deliveryId: 'd-1', messageSid: 'SM9', scheduleName: 'send-d-1' });
  });

  it('appended keys last until resetKeys()', () => {
    const log = createLogger({ level: 'INFO' });
    appendCorrelationKeys({ deliveryId: 'd-2', messageSid: undefined }, log);
    log.info('with');
    log.resetKeys();
    log.info('without');
    const [withKeys, withoutKeys] = records();
    expect(withKeys?.deliveryId).toBe('d-2');
    expect(withKeys).not.toHaveProperty('messageSid');
    expect(withoutKeys).not.toHaveProperty('deliveryId');
  });

  it('keys appended inside a correlation scope stay with that work, even when works interleave', async () => {
    // Prepare: two units of work running at once, as requests and timers do in one-machine mode.
    const log = createLogger({ level: 'INFO' });
    const tick = () => new Promise((r) => setImmediate(r));
    const work = (sid: string) =>
      withCorrelation({ deliveryId: `d-${sid}` }, async () => {
        appendCorrelationKeys({ messageSid: sid }, log);
        await tick();
        log.info('inside', { expected: sid });
      });

    // Act
    await Promise.all([work('SM1'), work('SM2')]);
    log.info('after');

    // Assess: each line has its own work's keys; the line after both has none.
    const [first, second, after] = records();
    for (const line of [first, second]) {
      expect(line?.messageSid).toBe(line?.expected);
      expect(line?.deliveryId).toBe(`d-${line?.expected}`);
    }
    expect(after).not.toHaveProperty('messageSid');
    expect(after).not.toHaveProperty('deliveryId');
  });
});
