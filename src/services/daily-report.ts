// The daily report: what went out on one UTC day, whether it landed, who opted in or out, and what it
// cost. Returned as a typed object (for the CLI and alarms) and logged as one summary line.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Db } from '../db/connection.js';
import {
  consentCounts,
  deliveryOutcomes,
  replacedDrafts,
  skippedByReason,
  usageForDay,
} from '../db/repositories/reports.js';
import { CALENDAR_DATE_RULE, isCalendarDate } from '../domain/calendar-date.js';
import { roundUSD } from '../domain/cost.js';
import { logger as defaultLogger } from '../logger.js';
import { OperationError } from './operation-error.js';

export interface DailyReport {
  /** The UTC day, 'YYYY-MM-DD'. */
  day: string;
  sent: number;
  delivered: number;
  undelivered: number;
  failed: number;
  awaitingStatus: number;
  sendErrors: number;
  /** delivered ÷ (delivered + undelivered + failed); null when no message has a final status yet. */
  deliveryRate: number | null;
  skipped: Record<string, number>;
  skippedTotal: number;
  optOuts: number;
  /** Numbers that became subscribers (YES to a request, or START). */
  optIns: number;
  /** Of the opt-ins, YES replies confirming a request. */
  confirmations: number;
  /** Opt-in requests texted (sign-ups awaiting YES): not opt-ins. */
  optInRequests: number;
  openaiRequests: number;
  openaiTokensIn: number;
  openaiTokensOut: number;
  fallbacks: number;
  /** Generated drafts discarded by the content checks (guard:<rule>, moderation_flagged, …), by reason. */
  replacedDrafts: Record<string, number>;
  /** Sent messages that are curated because every generated draft was discarded. */
  curatedReplacements: number;
  smsSegments: number;
  estimatedCostUSD: number;
}

/** A day no report can cover; bad input (the CLI exits 2), answered before any query. */
export class InvalidReportDay extends OperationError {
  constructor(readonly input: string) {
    super('bad_input', `day ${CALENDAR_DATE_RULE} (got ${JSON.stringify(input)})`);
    this.name = 'InvalidReportDay';
  }
}

/** [00:00Z, next 00:00Z) for 'YYYY-MM-DD'. */
export function utcDayRange(day: string): { from: Date; to: Date } {
  if (!isCalendarDate(day)) throw new InvalidReportDay(day);
  const from = new Date(`${day}T00:00:00.000Z`);
  return { from, to: new Date(from.getTime() + 86_400_000) };
}

/** The UTC day before `now`, the usual day a morning report covers. */
export function previousUtcDay(now: Date): string {
  return new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
}

export async function buildDailyReport(deps: { db: Db; logger?: Logger }, day: string): Promise<DailyReport> {
  const { from, to } = utcDayRange(day);
  const [outcomes, skipped, consent, usage, replaced] = await Promise.all([
    deliveryOutcomes(deps.db, from, to),
    skippedByReason(deps.db, from, to),
    consentCounts(deps.db, from, to),
    usageForDay(deps.db, day),
    replacedDrafts(deps.db, from, to),
  ]);
  const final = outcomes.delivered + outcomes.undelivered + outcomes.failed;
  const report: DailyReport = {
    day,
    ...outcomes,
    deliveryRate: final === 0 ? null : Math.round((outcomes.delivered / final) * 10_000) / 10_000,
    skipped,
    skippedTotal: Object.values(skipped).reduce((a, b) => a + b, 0),
    ...consent,
    openaiRequests: usage?.openai_requests ?? 0,
    openaiTokensIn: usage?.openai_tokens_in ?? 0,
    openaiTokensOut: usage?.openai_tokens_out ?? 0,
    fallbacks: usage?.fallbacks ?? 0,
    replacedDrafts: replaced.byReason,
    curatedReplacements: replaced.curated,
    smsSegments: usage?.sms_segments ?? 0,
    estimatedCostUSD: roundUSD(usage?.estimated_cost_usd ?? 0),
  };
  (deps.logger ?? defaultLogger).info(summarizeReport(report), { report });
  return report;
}

/** One human line, e.g. "2026-11-24: 120 sent, 117 delivered (97.5%), 2 undelivered, …". */
export function summarizeReport(r: DailyReport): string {
  const rate = r.deliveryRate === null ? 'n/a' : `${(r.deliveryRate * 100).toFixed(1)}%`;
  const skipped = Object.entries(r.skipped)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, n]) => `${reason}=${n}`)
    .join(' ');
  const replaced = Object.entries(r.replacedDrafts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, n]) => `${reason}=${n}`)
    .join(' ');
  const replacedTotal = Object.values(r.replacedDrafts).reduce((a, b) => a + b, 0);
  return (
    `daily report ${r.day}: ${r.sent} sent, ${r.delivered} delivered (${rate}), ${r.undelivered} undelivered, ` +
    `${r.failed} failed, ${r.awaitingStatus} awaiting status, ${r.sendErrors} send errors; ` +
    `${r.skippedTotal} skipped${skipped ? ` (${skipped})` : ''}; ${r.optOuts} opt-outs, ${r.optIns} opt-ins ` +
    `(${r.confirmations} confirming a request), ${r.optInRequests} opt-in requests; ` +
    `${r.openaiRequests} OpenAI requests, ${r.openaiTokensIn + r.openaiTokensOut} tokens, ` +
    `${r.fallbacks} fallbacks, ${r.smsSegments} segments; ` +
    `${replacedTotal} drafts replaced${replaced ? ` (${replaced})` : ''}, ${r.curatedReplacements} sent curated instead; ` +
    `est. cost $${r.estimatedCostUSD.toFixed(4)}`
  );
}
