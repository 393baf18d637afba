// Inbound SMS as received (kept for RETENTION_DAYS); MessageSid makes Twilio's repeats no-ops.
import type { Insertable } from 'kysely';
import type { DbOrTrx } from '../connection.js';
import type { InboundMessage, InboundMessagesTable } from '../schema.js';

const MAX_BODY = 1600;

/** Stores the message; undefined when this MessageSid was already stored (a repeated delivery). */
export function insertInboundIfNew(
  db: DbOrTrx,
  message: Insertable<InboundMessagesTable>,
): Promise<InboundMessage | undefined> {
  return db
    .insertInto('inbound_messages')
    .values({ ...message, body: message.body?.slice(0, MAX_BODY) ?? null })
    .onConflict((oc) => oc.column('message_sid').doNothing())
    .returningAll()
    .executeTakeFirst();
}
