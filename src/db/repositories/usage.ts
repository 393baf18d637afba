// Daily usage counters: cost and usage per UTC day (the cost cap reads them), and messages sent per
// subscriber-local date (the daily SMS quota's backstop reads them); the sender adds to both.
import { sql } from 'kysely';
import type { DbOrTrx } from '../connection.js';
import type { UsageDaily } from '../schema.js';

export interface UsageDelta {
  openaiRequests?: number;
  tokensIn?: number;
  tokensOut?: number;
  fallbacks?: number;
  smsSent?: number;
  smsSegments?: number;
  costUsd?: number;
}

/** UTC calendar day of an instant: 'YYYY-MM-DD'. */
export function usageDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export async function addUsage(db: DbOrTrx, day: string, d: UsageDelta): Promise<void> {
  const row = {
    day,
    openai_requests: d.openaiRequests ?? 0,
    openai_tokens_in: d.tokensIn ?? 0,
    openai_tokens_out: d.tokensOut ?? 0,
    fallbacks: d.fallbacks ?? 0,
    sms_sent: d.smsSent ?? 0,
    sms_segments: d.smsSegments ?? 0,
    estimated_cost_usd: d.costUsd ?? 0,
  };
  await db
    .insertInto('usage_daily')
    .values(row)
    .onConflict((oc) =>
      oc.column('day').doUpdateSet({
        openai_requests: sql`usage_daily.openai_requests + excluded.openai_requests`,
        openai_tokens_in: sql`usage_daily.openai_tokens_in + excluded.openai_tokens_in`,
        openai_tokens_out: sql`usage_daily.openai_tokens_out + excluded.openai_tokens_out`,
        fallbacks: sql`usage_daily.fallbacks + excluded.fallbacks`,
        sms_sent: sql`usage_daily.sms_sent + excluded.sms_sent`,
        sms_segments: sql`usage_daily.sms_segments + excluded.sms_segments`,
        estimated_cost_usd: sql`usage_daily.estimated_cost_usd + excluded.estimated_cost_usd`,
      }),
    )
    .execute();
}

export function getUsage(db: DbOrTrx, day: string): Promise<UsageDaily | undefined> {
  return db.selectFrom('usage_daily').selectAll().where('day', '=', day).executeTakeFirst();
}

/** Messages already sent on subscribers' local date `localDate` (the quota day). */
export async function quotaUsed(db: DbOrTrx, localDate: string): Promise<number> {
  const row = await db
    .selectFrom('sms_quota_days')
    .select('sms_sent')
    .where('local_date', '=', localDate)
    .executeTakeFirst();
  return row?.sms_sent ?? 0;
}

/** Counts one message sent on the quota day `localDate`. */
export async function addQuotaUse(db: DbOrTrx, localDate: string): Promise<void> {
  await db
    .insertInto('sms_quota_days')
    .values({ local_date: localDate, sms_sent: 1 })
    .onConflict((oc) =>
      oc
        .column('local_date')
        .doUpdateSet({ sms_sent: sql`sms_quota_days.sms_sent + 1`, updated_at: sql`now()` }),
    )
    .execute();
}
