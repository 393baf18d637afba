// Read-only queries behind the daily report. Times are half-open UTC ranges [from, to).
import { sql } from 'kysely';
import { FINAL_STATUSES } from '../../domain/delivery-status.js';
import type { DbOrTrx } from '../connection.js';

export interface DeliveryOutcomeCounts {
  sent: number;
  delivered: number;
  undelivered: number;
  failed: number;
  /** Sent but Twilio has not (yet) reported a final status (FINAL_STATUSES). */
  awaitingStatus: number;
  /** Never accepted by Twilio (state `failed` without sent_at), by send window start. */
  sendErrors: number;
}

/**
 * Outcomes of the messages that went out in [from, to) (by sent_at), and sends that failed before Twilio
 * accepted them whose window opened in [from, to).
 */
export async function deliveryOutcomes(db: DbOrTrx, from: Date, to: Date): Promise<DeliveryOutcomeCounts> {
  const inDay = sql<boolean>`sent_at >= ${from} AND sent_at < ${to}`;
  const row = await db
    .selectFrom('deliveries')
    .leftJoin('message_statuses as m', 'm.message_sid', 'deliveries.message_sid')
    .select([
      sql<number>`count(*) FILTER (WHERE ${inDay})`.as('sent'),
      sql<number>`count(*) FILTER (WHERE ${inDay} AND m.status = 'delivered')`.as('delivered'),
      sql<number>`count(*) FILTER (WHERE ${inDay} AND m.status = 'undelivered')`.as('undelivered'),
      sql<number>`count(*) FILTER (WHERE ${inDay} AND m.status = 'failed')`.as('failed'),
      sql<number>`count(*) FILTER (WHERE ${inDay}
        AND (m.status IS NULL OR m.status <> ALL(${[...FINAL_STATUSES]}::text[])))`.as('awaitingStatus'),
      sql<number>`count(*) FILTER (WHERE sent_at IS NULL AND state = 'failed'
        AND window_start >= ${from} AND window_start < ${to})`.as('sendErrors'),
    ])
    .where((eb) =>
      eb.or([
        eb.and([eb('sent_at', '>=', from), eb('sent_at', '<', to)]),
        eb.and([eb('window_start', '>=', from), eb('window_start', '<', to)]),
      ]),
    )
    .executeTakeFirstOrThrow();
  return row;
}

/** Skipped deliveries whose send window opened in [from, to), by reason. */
export async function skippedByReason(db: DbOrTrx, from: Date, to: Date): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['reason', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', '=', 'skipped')
    .where('window_start', '>=', from)
    .where('window_start', '<', to)
    .groupBy('reason')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.reason ?? 'unspecified', r.n]));
}

/**
 * Generated drafts discarded before the body of a message sent in [from, to), by reason, and how many of
 * those messages ended up curated because of it.
 */
export async function replacedDrafts(
  db: DbOrTrx,
  from: Date,
  to: Date,
): Promise<{ byReason: Record<string, number>; curated: number }> {
  const sent = db
    .selectFrom('deliveries')
    .where('sent_at', '>=', from)
    .where('sent_at', '<', to)
    .where(sql<boolean>`cardinality(replacement_reasons) > 0`);
  const [rows, curated] = await Promise.all([
    sent
      .select([sql<string>`unnest(replacement_reasons)`.as('reason')])
      .execute()
      .then((all) => all.map((r) => r.reason)),
    sent
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('fallback', '=', true)
      .executeTakeFirstOrThrow(),
  ]);
  const byReason: Record<string, number> = {};
  for (const reason of rows) byReason[reason] = (byReason[reason] ?? 0) + 1;
  return { byReason, curated: Number(curated.n) };
}

export interface ConsentCounts {
  optOuts: number;
  /** Numbers that became subscribers: YES to a request, or START (new or returning). */
  optIns: number;
  /** Of the opt-ins, YES replies confirming a request. */
  confirmations: number;
  /** Opt-in requests texted (sign-ups through the API, the CLI or the dev page): pending until YES. */
  optInRequests: number;
}

// The ledger's 'opt_in' is written both for a sign-up (pending; source api or operator) and for a START
// that makes a number active (source sms): only the second is an opt-in.
const REQUESTED = sql<boolean>`kind = 'opt_in' AND source IN ('api', 'operator')`;

export async function consentCounts(db: DbOrTrx, from: Date, to: Date): Promise<ConsentCounts> {
  const row = await db
    .selectFrom('consent_events')
    .select([
      sql<number>`count(*) FILTER (WHERE kind = 'opt_out')`.as('optOuts'),
      sql<number>`count(*) FILTER (WHERE kind = 'confirm' OR (kind = 'opt_in' AND NOT (${REQUESTED})))`.as(
        'optIns',
      ),
      sql<number>`count(*) FILTER (WHERE kind = 'confirm')`.as('confirmations'),
      sql<number>`count(*) FILTER (WHERE ${REQUESTED})`.as('optInRequests'),
    ])
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .executeTakeFirstOrThrow();
  return row;
}

/** The usage_daily row for one day (written by the sender), or null when nothing was used. */
export async function usageForDay(db: DbOrTrx, day: string) {
  return (await db.selectFrom('usage_daily').selectAll().where('day', '=', day).executeTakeFirst()) ?? null;
}
