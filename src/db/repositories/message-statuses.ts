// Twilio's latest status of each message, one row per MessageSid, moved forward only. Status callbacks
// write it inside receive_status_callback; the sender (Twilio's first answer) and reconciliation (what the
// API says later) write it here, under the same rule, so whichever lands first, none moves it back.
import { sql } from 'kysely';
import type { DbOrTrx } from '../connection.js';

export interface MessageStatus {
  messageSid: string;
  status: string;
  errorCode: number | null;
}

/** Records `status` for the message unless it already has one at least as far along; true when it moved. */
export async function advanceMessageStatus(db: DbOrTrx, seen: MessageStatus): Promise<boolean> {
  const result = await sql`
    INSERT INTO message_statuses AS x (message_sid, status, error_code)
    VALUES (${seen.messageSid}, ${seen.status}, ${seen.errorCode}::integer)
    ON CONFLICT (message_sid) DO UPDATE
       SET status = excluded.status, error_code = coalesce(excluded.error_code, x.error_code), updated_at = now()
     WHERE delivery_status_advances(x.status, excluded.status)`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}
