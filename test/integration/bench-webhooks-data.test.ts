// The bench's webhook scenarios are what bench/README.md says they are: each STOP comes from an active
// subscriber and each START from a number never seen (a sign-up by SMS: a subscriber row, the text and a
// consent event written), and each status callback speaks of a message we sent. The status scenario's
// recipients were seeded as active subscribers on the same numbers as the STARTs, so every START of a run
// found an active subscriber and changed nothing: the bench measured an easier inbound path than it named.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { seedWebhookData, signedInboundTexts, signedStatusCallbacks } from '../../bench/lib/webhooks.js';
import { useTestDb } from '../support/db.js';

const t = useTestDb();
const TEXTS = 600;

const paramsOf = (body: string) => Object.fromEntries(new URLSearchParams(body));

describe('the bench webhook data', () => {
  it('has every STOP from an active subscriber, every START from an unknown number, every status for a sent message', async () => {
    await seedWebhookData(t.db(), TEXTS);
    const known = new Map(
      (await t.db().selectFrom('subscribers').select(['phone', 'status']).execute()).map((s) => [
        s.phone,
        s.status,
      ]),
    );

    const texts = signedInboundTexts(TEXTS).map((r) => paramsOf(r.body));
    const stops = texts.filter((p) => p.Body === 'STOP');
    const starts = texts.filter((p) => p.Body === 'START');
    expect(stops).toHaveLength(TEXTS / 2);
    expect(starts).toHaveLength(TEXTS / 2);
    expect(stops.filter((p) => known.get(p.From as string) !== 'active')).toEqual([]);
    expect(starts.filter((p) => known.has(p.From as string)).map((p) => p.From)).toEqual([]);

    const sent = new Set(
      (
        await sql<{ sid: string }>`SELECT message_sid AS sid FROM deliveries WHERE state = 'sent'`.execute(
          t.db(),
        )
      ).rows.map((r) => r.sid),
    );
    const statuses = signedStatusCallbacks(TEXTS).map((r) => paramsOf(r.body));
    expect(statuses.filter((p) => !sent.has(p.MessageSid as string))).toEqual([]);
  });
});
