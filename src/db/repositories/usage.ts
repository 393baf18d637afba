// Daily usage counters (per UTC day): the daily SMS quota and cost cap read them, the sender adds to them.
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
