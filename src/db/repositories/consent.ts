// The consent ledger: append-only proof of every opt-in, confirmation and opt-out.
import type { Insertable } from 'kysely';
import type { DbOrTrx } from '../connection.js';
import type { ConsentEvent, ConsentEventsTable } from '../schema.js';

/** Longest trigger text the ledger keeps (Twilio's own body limit). */
const MAX_TRIGGER_TEXT = 1600;

export function recordConsentEvent(
  db: DbOrTrx,
  event: Insertable<ConsentEventsTable>,
): Promise<ConsentEvent> {
  return db
    .insertInto('consent_events')
    .values({ ...event, trigger_text: event.trigger_text?.slice(0, MAX_TRIGGER_TEXT) ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
}
