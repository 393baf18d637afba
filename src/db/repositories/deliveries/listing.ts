// Read-only views of deliveries for operators (CLI) and the dev page.
import type { DbOrTrx } from '../../connection.js';

export interface DeliveryListing {
  id: string;
  phone: string;
  localDate: string;
  timeZone: string;
  state: string;
  reason: string | null;
  plannedAt: string | null;
  sentAt: string | null;
  deliveryStatus: string | null;
  messageSid: string | null;
  body: string | null;
  costUsd: number | null;
  /** Why generated drafts were discarded before this body (guard:<rule>, moderation_flagged, …). */
  replacementReasons: string[] | null;
}

function baseQuery(db: DbOrTrx) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select([
      'd.id',
      's.phone',
      'd.local_date',
      'd.time_zone',
      'd.state',
      'd.reason',
      'd.planned_at',
      'd.sent_at',
      'd.delivery_status',
      'd.message_sid',
      'd.body',
      'd.cost_usd',
      'd.replacement_reasons',
    ]);
}

type Row = Awaited<ReturnType<ReturnType<typeof baseQuery>['execute']>>[number];
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const toListing = (r: Row): DeliveryListing => ({
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
  body: r.body,
  costUsd: r.cost_usd,
  replacementReasons: r.replacement_reasons,
});

/** Every delivery for one local date, by planned time. */
export async function deliveriesOnLocalDate(db: DbOrTrx, localDate: string): Promise<DeliveryListing[]> {
  const rows = await baseQuery(db)
    .where('d.local_date', '=', localDate)
    .orderBy('d.planned_at')
    .orderBy('s.phone')
    .execute();
  return rows.map(toListing);
}

/** One subscriber's latest deliveries, newest first. */
export async function recentDeliveries(
  db: DbOrTrx,
  subscriberId: number,
  limit = 10,
): Promise<DeliveryListing[]> {
  const rows = await baseQuery(db)
    .where('d.subscriber_id', '=', subscriberId)
    .orderBy('d.local_date', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toListing);
}
