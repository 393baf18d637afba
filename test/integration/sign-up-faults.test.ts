// Sign-up (POST /api/subscribers) when the database fails at its COMMIT (a TCP proxy cuts the connection as
// the COMMIT is sent, or loses the answer of one the server made; test/support/pg-fault-proxy.ts) or Twilio
// cannot say whether it took the double opt-in text. What the consent rules and a careful operator expect:
// no invitation goes out without its pending row and consent-ledger entry already saved (the ledger says why
// we texted the number), a number gets one invitation — an operator repeating a request that failed never
// sends a second — and a text Twilio refuses leaves nothing saved (or, when even undoing the sign-up
// fails, the answer says what is left). Real Postgres, the app as wired.
import type { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretUnavailable } from '../../src/adapters/credentials.js';
import { createDb, type Db } from '../../src/db/connection.js';
import {
  type OutboundSms,
  RecipientOptedOut,
  SmsError,
  SmsOutcomeUnknown,
  type SmsReceipt,
} from '../../src/services/ports.js';
import { useTestDb } from '../support/db.js';
import { type PgFaultProxy, startPgFaultProxy } from '../support/pg-fault-proxy.js';
import { API_TOKEN, RecordingSms, testApp } from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';

/** Twilio took the text but its answer never came (a timeout after the request was written). */
class AnswerLostSms extends RecordingSms {
  override async send(message: OutboundSms): Promise<SmsReceipt> {
    await super.send(message);
    throw new SmsOutcomeUnknown('Twilio request outcome unknown: the operation was aborted');
  }
}

let proxy: PgFaultProxy;
let proxied: Db;

beforeEach(async () => {
  proxy = await startPgFaultProxy(t.url());
  proxied = createDb({ connectionString: proxy.url, max: 2 });
});

afterEach(async () => {
  await proxied.destroy();
  await proxy.close();
});

const signUp = (app: Hono) =>
  app.request('/api/subscribers', {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ phone: PHONE }),
  });

/** What the database holds for the number: its subscriber row and its consent-ledger entries. */
async function saved() {
  const subscribers = await t.db().selectFrom('subscribers').select(['phone', 'status']).execute();
  const ledger = await t.db().selectFrom('consent_events').select(['phone', 'kind', 'source']).execute();
  return { subscribers, ledger };
}

const SIGNED_UP = {
  subscribers: [{ phone: PHONE, status: 'pending' }],
  ledger: [{ phone: PHONE, kind: 'opt_in', source: 'api' }],
};
const NOTHING = { subscribers: [], ledger: [] };

describe('sign-up when the database fails at COMMIT', () => {
  it('sends no invitation when the connection drops as the COMMIT is sent; the retry sends exactly one', async () => {
    // Prepare: the server never sees the sign-up's COMMIT (it rolls the transaction back).
    const sms = new RecordingSms();
    const app = testApp({ db: proxied, sms });
    const cut = proxy.cutBefore('commit');

    // Act
    const first = await signUp(app);
    await cut;

    // Assess: no text went out for a sign-up that was not saved, and the operator is told to try again.
    expect(sms.sent).toHaveLength(0);
    expect(await saved()).toEqual(NOTHING);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('5');
    const answer = (await first.json()) as { code: string; error: string };
    expect(answer.code).toBe('unavailable');
    expect(answer.error).toMatch(/nothing was saved and no text was sent/);

    // The operator repeats it: one invitation, recorded.
    const second = await signUp(app);
    expect(second.status).toBe(201);
    expect(sms.sent.map((m) => m.to)).toEqual([PHONE]);
    expect(await saved()).toEqual(SIGNED_UP);
  });

  it('undoes a sign-up whose COMMIT the server made but whose answer was lost, so the retry sends its one invitation', async () => {
    // Prepare: the server commits; the app never hears it did.
    const sms = new RecordingSms();
    const app = testApp({ db: proxied, sms });
    const lost = proxy.loseAnswerOf('commit');

    // Act
    const first = await signUp(app);
    await lost;

    // Assess: no text, nothing left saved (not a pending row nobody invited), a retryable 503.
    expect(sms.sent).toHaveLength(0);
    expect(await saved()).toEqual(NOTHING);
    expect(first.status).toBe(503);
    expect(((await first.json()) as { error: string }).error).toMatch(
      /nothing was saved and no text was sent/,
    );

    // The operator repeats it: one invitation, recorded.
    const second = await signUp(app);
    expect(second.status).toBe(201);
    expect(sms.sent).toHaveLength(1);
    expect(await saved()).toEqual(SIGNED_UP);
  });
});

describe('sign-up when the opt-in text fails', () => {
  it('keeps the sign-up, consent recorded, when Twilio cannot say whether it took the text; a repeat texts no one', async () => {
    // Prepare: Twilio took the text and its answer was lost.
    const sms = new AnswerLostSms();
    const app = testApp({ db: proxied, sms });

    // Act
    const first = await signUp(app);

    // Assess: the number may have been texted, so the ledger keeps why; the operator is told not to repeat.
    expect(await saved()).toEqual(SIGNED_UP);
    expect(first.status).toBe(502);
    const answer = (await first.json()) as { code: string; error: string };
    expect(answer.code).toBe('unavailable');
    expect(answer.error).toMatch(/may have been sent/);
    expect(answer.error).toMatch(/saved as pending/);

    // A repeat is a conflict, not a second invitation.
    const second = await signUp(app);
    expect(second.status).toBe(409);
    expect(sms.sent).toHaveLength(1);
    expect(await saved()).toEqual(SIGNED_UP);
  });

  it.each([
    [new SmsError('Invalid To number', 21211, false), 422],
    [new RecipientOptedOut('Unsubscribed recipient', 21610), 409],
    [new SmsError('Twilio still refusing after 2 attempts (status 503)', 20503, true), 502],
  ])(
    'saves nothing when Twilio refuses the text (%s → %i), and a retry once it accepts texts once',
    async (error, status) => {
      // Prepare
      const sms = new RecordingSms();
      sms.failWith = error;
      const app = testApp({ db: proxied, sms });

      // Act
      const refused = await signUp(app);

      // Assess
      expect(refused.status).toBe(status);
      expect(((await refused.json()) as { error: string }).error).toMatch(/nothing was saved/);
      expect(await saved()).toEqual(NOTHING);
      sms.failWith = null;
      expect((await signUp(app)).status).toBe(201);
      expect(sms.sent).toHaveLength(1);
      expect(await saved()).toEqual(SIGNED_UP);
    },
  );

  it('answers 503 with Retry-After, not 500, when the Twilio secret cannot be read for the text; nothing is saved', async () => {
    // Prepare: the SMS adapter's credentials expired from the cache and Secrets Manager does not answer.
    const sms = new RecordingSms();
    sms.failWith = new SecretUnavailable('twilio', { cause: new Error('Request aborted') });
    const app = testApp({ db: proxied, sms });

    // Act
    const refused = await signUp(app);

    // Assess: a dependency briefly unavailable, said so, with when to try again; the retry texts once.
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    const body = (await refused.json()) as { code: string; error: string };
    expect(body.code).toBe('unavailable');
    expect(body.error).toMatch(/twilio secret could not be read/);
    expect(await saved()).toEqual(NOTHING);
    sms.failWith = null;
    expect((await signUp(app)).status).toBe(201);
    expect(sms.sent).toHaveLength(1);
  });

  it('says so when a refused text’s sign-up cannot be undone either: pending, uninvited, no second text', async () => {
    // Prepare: Twilio refuses the text, and the database is gone by the time the sign-up is to be undone.
    class RefusingAfterOutage extends RecordingSms {
      override async send(): Promise<SmsReceipt> {
        await proxy.close();
        throw new SmsError('Invalid To number', 21211, false);
      }
    }
    const sms = new RefusingAfterOutage();
    const app = testApp({ db: proxied, sms });

    // Act
    const answer = await signUp(app);

    // Assess: what is left (a pending row and its ledger entry, no text) and what a repeat does (409).
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBeNull();
    const body = (await answer.json()) as { code: string; error: string };
    expect(body.code).toBe('unavailable');
    expect(body.error).toMatch(/^the opt-in text was not sent, and the sign-up could not be undone/);
    expect(body.error).toMatch(/409/);
    expect(sms.sent).toHaveLength(0);
    expect(await saved()).toEqual(SIGNED_UP);
  });
});
