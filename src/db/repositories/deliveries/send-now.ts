// "Send now" for one subscriber (one-machine demos): today's delivery row, created or moved to now.
import { sql } from 'kysely';
import type { DeliveryState } from '../../../domain/delivery.js';
import type { Trx } from '../../connection.js';

export interface TodaysDelivery {
  id: string;
  state: DeliveryState;
  reason: string | null;
}

/** The subscriber's delivery for `localDate`, locked for the rest of the transaction. */
export function lockDeliveryForDate(
  trx: Trx,
  subscriberId: number,
  localDate: string,
): Promise<TodaysDelivery | undefined> {
  return trx
    .selectFrom('deliveries')
    .select(['id', 'state', 'reason'])
    .where('subscriber_id', '=', subscriberId)
    .where('local_date', '=', localDate)
    .forUpdate()
    .executeTakeFirst();
}

export interface DueNow {
  subscriberId: number;
  localDate: string;
  timeZone: string;
  windowStart: Date;
  windowEnd: Date;
  now: Date;
}

/** A planned delivery at `now`; undefined when another caller created the day's row first. */
export async function insertDeliveryDueNow(trx: Trx, d: DueNow): Promise<string | undefined> {
  const row = await trx
    .insertInto('deliveries')
    .values({
      subscriber_id: d.subscriberId,
      local_date: d.localDate,
      time_zone: d.timeZone,
      window_start: d.windowStart,
      window_end: d.windowEnd,
      planned_at: d.now,
      state: 'planned',
    })
    .onConflict((oc) => oc.columns(['subscriber_id', 'local_date']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}

/** Moves a still-planned delivery to `now`, widening its window to contain now when it must. */
export async function moveDeliveryToNow(trx: Trx, id: string, d: DueNow): Promise<boolean> {
  const result = await trx
    .updateTable('deliveries')
    .set({
      planned_at: d.now,
      window_start: sql`least(window_start, ${d.windowStart})`,
      window_end: sql`greatest(window_end, ${d.windowEnd})`,
    })
    .where('id', '=', id)
    .where('state', '=', 'planned')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
