// Inbound SMS as received (kept for RETENTION_DAYS). The whole state change of one inbound text is the SQL
// function receive_inbound_sms (migrations 2026-12-01T0930_webhook_functions, 2026-12-01T1600_inbound_dedupe_by_row,
// and the overload with reply tokens of 2026-12-01T1800_inbound_reply_token): one round trip, one commit.
import type { InboundKind } from '../../domain/inbound-keywords.js';
import type { ConsentKind } from '../../domain/subscriber.js';
import type { DbOrTrx } from '../connection.js';
import { preparedStatement } from '../prepared.js';

export interface InboundRow {
  messageSid: string;
  from: string;
  to: string | null;
  body: string;
  classification: InboundKind;
  /** Zone for numbers first heard from by SMS. */
  defaultTimeZone: string;
  now: Date;
  /** Texts one sender may have stored per minute before the next is refused; null for no limit. */
  limitPerMinute: number | null;
  /**
   * A uuid the request made once and passes on every attempt: stored with the text it applies, it lets a
   * retry after a lost commit answer recognise the text as its own.
   */
  requestToken: string;
  /** The token of the live request that kept this text in the spool (a spool's apply only), or null. */
  keptToken: string | null;
}

export type InboundApplied =
  | {
      /**
       * applied: by this call. recovered: by an earlier attempt of this request (or by the request that kept
       * it), whose answer was lost; its reply is owed now, and claimed so that no one else sends it.
       */
      outcome: 'applied' | 'recovered';
      subscriberId: number | null;
      /** The consent event this text wrote, if it changed the subscriber's consent. */
      consentKind: ConsentKind | null;
      /** Deliveries an opt-out cancelled; remove their schedules after this returns. */
      cancelledDeliveryIds: string[];
    }
  /** An opt-in received before the subscriber's latest opt-out: stored, changed nothing, owes no reply. */
  | { outcome: 'superseded'; subscriberId: number | null }
  | { outcome: 'duplicate' }
  | { outcome: 'limited'; retryAfterMs: number };

interface Row {
  outcome: 'applied' | 'recovered' | 'superseded' | 'duplicate' | 'limited';
  subscriber_id: number | null;
  consent_kind: ConsentKind | null;
  cancelled: string[];
  retry_after_ms: number | null;
}

const receive = preparedStatement(
  'receive_inbound_sms',
  'SELECT * FROM receive_inbound_sms($1, $2, $3, $4, $5, $6, $7, $8::integer, $9::uuid, $10::uuid)',
);

/**
 * The sender's subscriber row was deleted between the function finding it and storing the text with it: the
 * daily cleanup expired their unanswered sign-up (deleteExpiredInvitations) while this text came in.
 */
function subscriberDeletedMeanwhile(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown } | null;
  return e?.code === '23503' && e.constraint === 'inbound_messages_subscriber_id_fkey';
}

/**
 * Stores the text once per MessageSid and applies what it asks for, in one statement. When the sender's
 * sign-up expired while the statement ran, it undid itself, and it runs once more: now a text from a number
 * we do not know (a YES or START signs them up). Inside a caller's transaction the error is the caller's.
 */
export async function receiveInboundSms(db: DbOrTrx, row: InboundRow): Promise<InboundApplied> {
  const call = () =>
    db.executeQuery<Row>(
      receive([
        row.messageSid,
        row.from,
        row.to,
        row.body,
        row.classification,
        row.defaultTimeZone,
        row.now,
        row.limitPerMinute,
        row.requestToken,
        row.keptToken,
      ]),
    );
  const { rows } = await call().catch((error: unknown) => {
    if (db.isTransaction || !subscriberDeletedMeanwhile(error)) throw error;
    return call();
  });
  const r = rows[0];
  if (!r) throw new Error('receive_inbound_sms returned no row');
  if (r.outcome === 'duplicate') return { outcome: 'duplicate' };
  if (r.outcome === 'limited') return { outcome: 'limited', retryAfterMs: r.retry_after_ms ?? 60_000 };
  if (r.outcome === 'superseded') return { outcome: 'superseded', subscriberId: r.subscriber_id };
  return {
    outcome: r.outcome,
    subscriberId: r.subscriber_id,
    consentKind: r.consent_kind,
    cancelledDeliveryIds: r.cancelled,
  };
}
