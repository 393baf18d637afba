// Read-only views of deliveries for operators (CLI, operator API) and the dev page. Message bodies are read
// only when asked for: a listing of a day is about states and reasons, not what each subscriber was told.

import type { DeliveryState } from '../../../domain/delivery.js';
import type { DbOrTrx } from '../../connection.js';

/** One delivery (one subscriber's message for one local date), as listings and the test send show it. */
export interface DeliveryView {
  id: string;
  phone: string;
  localDate: string;
  timeZone: string;
  state: DeliveryState;
  /** Why it was skipped, failed or cancelled (quota, late, opted_out, twilio_rejected, …). */
  reason: string | null;
  plannedAt: string | null;
  sentAt: string | null;
  /** Twilio's latest status (queued, sent, delivered, undelivered, failed, …). */
  deliveryStatus: string | null;
  messageSid: string | null;
  /** Twilio's error code for a failed or undelivered message (30007 carrier filtered, 21610 opted out, …). */
  errorCode: number | null;
  /** True when the curated library wrote the text (OpenAI unavailable, or every draft was replaced). */
  fallback: boolean | null;
  costUsd: number | null;
  /** Why generated drafts were discarded before this body (guard:<rule>, moderation_flagged, …). */
  replacementReasons: string[] | null;
  /** The text sent; present only when asked for (`bodies`), null once retention cleared it. */
  body?: string | null;
}

export interface ListingOptions {
  /** Include each message's text (`body`). */
  bodies?: boolean;
}

function baseQuery(db: DbOrTrx) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .leftJoin('message_statuses as m', 'm.message_sid', 'd.message_sid')
    .select([
      'd.id',
      's.phone',
      'd.local_date',
      'd.time_zone',
      'd.state',
      'd.reason',
      'd.planned_at',
      'd.sent_at',
      'm.status as delivery_status',
      'd.message_sid',
      (eb) => eb.fn.coalesce('m.error_code', 'd.error_code').as('error_code'),
      'd.fallback',
      'd.body',
      'd.cost_usd',
      'd.replacement_reasons',
    ]);
}

type Row = Awaited<ReturnType<ReturnType<typeof baseQuery>['execute']>>[number];
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const toView = (r: Row, options: ListingOptions): DeliveryView => ({
  id: r.id,
  phone: r.phone,
  localDate: r.local_date,
  timeZone: r.time_zone,
  state: r.state,
  reason: r.reason,
  plannedAt: iso(r.planned_at),
  sentAt: iso(r.sent_at),
  deliveryStatus: r.delivery_status,
  messageSid: r.message_sid,
  errorCode: r.error_code,
  fallback: r.fallback,
  costUsd: r.cost_usd,
  replacementReasons: r.replacement_reasons,
  ...(options.bodies ? { body: r.body } : {}),
});

/** Every delivery for one local date, by planned time. */
export async function deliveriesOnLocalDate(
  db: DbOrTrx,
  localDate: string,
  options: ListingOptions = {},
): Promise<DeliveryView[]> {
  const rows = await baseQuery(db)
    .where('d.local_date', '=', localDate)
    .orderBy('d.planned_at')
    .orderBy('s.phone')
    .execute();
  return rows.map((r) => toView(r, options));
}

/** One subscriber's latest deliveries, newest first. */
export async function recentDeliveries(
  db: DbOrTrx,
  subscriberId: number,
  limit = 10,
  options: ListingOptions = {},
): Promise<DeliveryView[]> {
  const rows = await baseQuery(db)
    .where('d.subscriber_id', '=', subscriberId)
    .orderBy('d.local_date', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => toView(r, options));
}

/** One delivery by id, or undefined. */
export async function deliveryById(
  db: DbOrTrx,
  id: string,
  options: ListingOptions = {},
): Promise<DeliveryView | undefined> {
  const row = await baseQuery(db).where('d.id', '=', id).executeTakeFirst();
  return row && toView(row, options);
}
