// The sender's side of a delivery: claim it once, finish it once, and never resend a claim left behind.
import { type NotNull, sql } from 'kysely';
import type { DbOrTrx } from '../../connection.js';
import type { Delivery, Subscriber } from '../../schema.js';
import { advanceMessageStatus } from '../message-statuses.js';

/**
 * Takes a planned delivery for sending (planned → sending). Exactly one concurrent caller gets the row:
 * the UPDATE's WHERE state = 'planned' is re-checked under the row lock, so the others get undefined.
 */
export function claimDelivery(db: DbOrTrx, id: string, now: Date): Promise<Delivery | undefined> {
  return db
    .updateTable('deliveries')
    .set({ state: 'sending', claimed_at: now })
    .where('id', '=', id)
    .where('state', '=', 'planned')
    .returningAll()
    .executeTakeFirst();
}

export function findDeliveryState(db: DbOrTrx, id: string) {
  return db.selectFrom('deliveries').select(['id', 'state']).where('id', '=', id).executeTakeFirst();
}

export function findSubscriber(db: DbOrTrx, id: number): Promise<Subscriber | undefined> {
  return db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * When the subscriber's other texts of local dates `from`..`to` went out, or may have (sent, claimed, or
 * unknown): the sender's guard against a second text on one local date after a zone change.
 */
export async function textInstantsBetween(
  db: DbOrTrx,
  subscriberId: number,
  except: string,
  dates: { from: string; to: string },
): Promise<Date[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(sql<Date>`coalesce(sent_at, claimed_at)`.as('at'))
    .where('subscriber_id', '=', subscriberId)
    .where('local_date', '>=', dates.from)
    .where('local_date', '<=', dates.to)
    .where('id', '!=', except)
    .where('state', 'in', ['sent', 'sending', 'unknown'])
    .execute();
  return rows.flatMap((r) => (r.at ? [r.at] : []));
}

/** The subscriber's latest message bodies, newest first (for "never repeat the last 30"). */
export async function recentBodies(db: DbOrTrx, subscriberId: number, limit = 30): Promise<string[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select('body')
    .where('subscriber_id', '=', subscriberId)
    .where('body', 'is not', null)
    .orderBy('local_date', 'desc')
    .limit(limit)
    .$narrowType<{ body: NotNull }>()
    .execute();
  return rows.map((r) => r.body);
}

/** Ends a claimed delivery without a message (skipped or failed). Only a `sending` row changes. */
export async function finishClaim(
  db: DbOrTrx,
  id: string,
  end: { state: 'skipped' | 'failed' | 'unknown'; reason: string; errorCode?: number | null },
): Promise<boolean> {
  const res = await db
    .updateTable('deliveries')
    .set({ state: end.state, reason: end.reason.slice(0, 200), error_code: end.errorCode ?? null })
    .where('id', '=', id)
    .where('state', '=', 'sending')
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/**
 * Keeps the text about to go to Twilio on the claim, before the call, with what writing it used: whatever
 * happens next (an answer lost, a crash), reconciliation can tell our message from another text to the same
 * number, and price it if it went out. Only a `sending` row.
 */
export async function recordAttempt(db: DbOrTrx, id: string, attempt: Attempt): Promise<boolean> {
  const res = await db
    .updateTable('deliveries')
    .set({
      body: attempt.body,
      segments: attempt.segments,
      model: attempt.model,
      fallback: attempt.fallback,
      tokens_in: attempt.tokensIn,
      tokens_out: attempt.tokensOut,
    })
    .where('id', '=', id)
    .where('state', '=', 'sending')
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** The text handed to Twilio and what writing it used. */
export interface Attempt {
  body: string;
  segments: number;
  model: string | null;
  fallback: boolean;
  tokensIn: number;
  tokensOut: number;
}

export interface SentRecord extends Attempt {
  messageSid: string;
  status: string;
  sentAt: Date;
  costUsd: number;
  /** Why the drafts before this body were discarded; null when the writer does not say. */
  replacementReasons?: readonly string[] | null;
}

export async function recordSent(db: DbOrTrx, id: string, sent: SentRecord): Promise<boolean> {
  const res = await db
    .updateTable('deliveries')
    .set({
      state: 'sent',
      reason: null,
      message_sid: sent.messageSid,
      sent_at: sent.sentAt,
      body: sent.body,
      segments: sent.segments,
      model: sent.model,
      fallback: sent.fallback,
      tokens_in: sent.tokensIn,
      tokens_out: sent.tokensOut,
      cost_usd: sent.costUsd,
      replacement_reasons: sent.replacementReasons ? [...sent.replacementReasons] : null,
    })
    .where('id', '=', id)
    .where('state', '=', 'sending')
    .executeTakeFirst();
  if (res.numUpdatedRows === 0n) return false;
  // Twilio's first answer (queued, accepted); a callback that got here first keeps its later status.
  await advanceMessageStatus(db, { messageSid: sent.messageSid, status: sent.status, errorCode: null });
  return true;
}

/**
 * Claims still `sending` after `olderThan` crashed somewhere between claim and record — maybe after
 * Twilio accepted. They are never resent automatically: they become `unknown` for reconciliation.
 */
export async function markStaleClaimsUnknown(db: DbOrTrx, olderThan: Date): Promise<number> {
  const res = await db
    .updateTable('deliveries')
    .set({ state: 'unknown', reason: sql<string>`'claim not completed; check Twilio before any resend'` })
    .where('state', '=', 'sending')
    .where('claimed_at', '<', olderThan)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
