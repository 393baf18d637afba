// The consent ledger says who acted: the API by default, an operator for the CLI and the dev page.
import { describe, expect, it } from 'vitest';
import type { E164 } from '../../src/domain/phone.js';
import { createSubscriber, removeSubscriber, type SubscriberDeps } from '../../src/services/subscribers.js';
import { useTestDb } from '../support/db.js';
import { PUBLIC_BASE_URL, RecordingScheduler, RecordingSms } from '../support/webhook-doubles.js';

const { db } = useTestDb();
const PHONE = '+14155550123' as E164;

function deps(consentSource?: 'api' | 'operator'): SubscriberDeps {
  return {
    db: db(),
    sms: new RecordingSms(),
    scheduler: new RecordingScheduler(),
    clock: { now: () => new Date('2026-11-25T15:00:00Z') },
    window: { startMinute: 12 * 60, endMinute: 17 * 60 },
    consentSource,
    settings: {
      serviceName: 'Daily Positivity',
      helpContact: 'help@example.com',
      defaultTimeZone: 'America/New_York',
      statusCallbackUrl: `${PUBLIC_BASE_URL}/twilio/status`,
    },
  };
}

const ledger = () => db().selectFrom('consent_events').select(['kind', 'source']).orderBy('id').execute();

describe('consent source of subscriber changes', () => {
  it('records the API as the source by default', async () => {
    await createSubscriber(deps(), { phone: PHONE });
    await removeSubscriber(deps(), PHONE);
    expect(await ledger()).toEqual([
      { kind: 'opt_in', source: 'api' },
      { kind: 'opt_out', source: 'api' },
    ]);
  });

  it('records an operator when the CLI or dev page acts', async () => {
    await createSubscriber(deps('operator'), { phone: PHONE, name: 'Ana' });
    await removeSubscriber(deps('operator'), PHONE);
    expect(await ledger()).toEqual([
      { kind: 'opt_in', source: 'operator' },
      { kind: 'opt_out', source: 'operator' },
    ]);
  });
});
