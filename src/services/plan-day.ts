// The daily planner: for every active subscriber, the next send window(s) within the horizon get a
// delivery at a random, capacity-checked instant; then each planned delivery gets a one-shot schedule.
// Both phases are resumable: rows are unique per (subscriber, local date) and schedule progress is stored
// per delivery, so a run that dies half-way is finished by the next one.
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  existingDeliveryKeys,
  insertPlannedDeliveries,
  markMissedSchedules,
  type NewPlannedDelivery,
  pageSubscribersForPlanning,
  pageUnscheduledDeliveries,
  plannedSendsPerSecond,
  recordQuotaSkips,
  recordScheduleOutcomes,
  type ScheduleOutcome,
  type SubscriberCursor,
} from '../db/repositories/deliveries/planning.js';
import { usableWindow, windowsToPlan } from '../domain/planning-horizon.js';
import { InvalidTimeZone, type SendWindow } from '../domain/send-window.js';
import { CapacityLedger, openAiMessagesPerMinute, type Random } from '../domain/slots.js';
import { logger } from '../logger.js';
import type { DeliveryScheduler } from './ports.js';

export type PlannerSettings = Pick<
  Settings,
  | 'SEND_WINDOW_START'
  | 'SEND_WINDOW_END'
  | 'PLANNER_HORIZON_HOURS'
  | 'TWILIO_MESSAGES_PER_DAY'
  | 'TWILIO_MESSAGES_PER_SECOND'
  | 'OPENAI_REQUESTS_PER_MIN'
  | 'OPENAI_TOKENS_PER_MIN'
  | 'OPENAI_EXPECTED_TOKENS_PER_MESSAGE'
>;

export interface PlanDayDeps {
  db: Db;
  scheduler: DeliveryScheduler;
  settings: PlannerSettings;
  /** Defaults to Math.random; tests pass a seeded one. */
  random?: Random;
  /** Stop starting new schedule calls after this instant (e.g. the Lambda's timeout minus a margin). */
  deadline?: Date;
  /** Subscribers per page (default 2,000). */
  pageSize?: number;
  /** Schedule calls in flight at once (default 16). */
  scheduleConcurrency?: number;
}

export interface PlanSummary {
  /** Deliveries this run created in state planned. */
  planned: number;
  /** Deliveries this run created in state skipped, by reason (quota, capacity, bad_timezone). */
  skipped: Record<string, number>;
  /** Schedules created (or found already created) this run. */
  scheduled: number;
  /** Schedule calls that failed this run; recorded per delivery and retried by the next run. */
  failed: number;
  /** Planned deliveries whose time passed before any run could schedule them. */
  missed: number;
  /** Planned deliveries left unscheduled because the deadline came first; the next run resumes them. */
  remaining: number;
}

/** A schedule must exist a little before its time: closer than this and it is not attempted. */
const SCHEDULE_LEAD_MS = 60_000;
/** New windows must have at least this much left to be planned (room to create the schedule). */
const PLAN_LEAD_MS = 5 * 60_000;
const SCHEDULE_PAGE = 500;

export async function planDay(deps: PlanDayDeps, now: Date): Promise<PlanSummary> {
  const summary: PlanSummary = { planned: 0, skipped: {}, scheduled: 0, failed: 0, missed: 0, remaining: 0 };
  await planDeliveries(deps, now, summary);
  await scheduleDeliveries(deps, now, summary);
  logger.info('planner run finished', { ...summary });
  return summary;
}

const DAY_MS = 86_400_000;
const startOfUtcDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

async function planDeliveries(deps: PlanDayDeps, now: Date, summary: PlanSummary): Promise<void> {
  const { db, settings } = deps;
  const random = deps.random ?? Math.random;
  const window = { startMinute: settings.SEND_WINDOW_START, endMinute: settings.SEND_WINDOW_END };
  const horizon = { window, horizonHours: settings.PLANNER_HORIZON_HOURS, minLeadMs: PLAN_LEAD_MS };

  const ledger = new CapacityLedger({
    perSecond: settings.TWILIO_MESSAGES_PER_SECOND,
    perMinute: openAiMessagesPerMinute({
      requestsPerMinute: settings.OPENAI_REQUESTS_PER_MIN,
      tokensPerMinute: settings.OPENAI_TOKENS_PER_MIN,
      expectedTokensPerMessage: settings.OPENAI_EXPECTED_TOKENS_PER_MESSAGE,
    }),
    perDay: settings.TWILIO_MESSAGES_PER_DAY,
  });
  // Whole UTC days this run can touch: the daily quota counts everything already planned on them.
  const from = new Date(startOfUtcDay(now.getTime()));
  const to = new Date(startOfUtcDay(now.getTime() + settings.PLANNER_HORIZON_HOURS * 3_600_000) + 2 * DAY_MS);
  for (const row of await plannedSendsPerSecond(db, from, to)) {
    ledger.reserve(new Date(row.second * 1000), row.count);
  }

  const utcToday = now.toISOString().slice(0, 10);
  // Every subscriber in a zone gets the same windows in one run: work them out once per zone.
  const byZone = new Map<string, SendWindow[] | null>();
  const windowsFor = (zone: string): SendWindow[] | null => {
    let windows = byZone.get(zone);
    if (windows === undefined) {
      try {
        windows = windowsToPlan(zone, now, horizon);
      } catch (error) {
        if (!(error instanceof InvalidTimeZone)) throw error;
        windows = null;
      }
      byZone.set(zone, windows);
    }
    return windows;
  };
  let cursor: SubscriberCursor | null = null;
  for (;;) {
    const page = await pageSubscribersForPlanning(db, cursor, deps.pageSize ?? 2000);
    if (page.length === 0) break;
    const last = page[page.length - 1] as (typeof page)[number];
    cursor = { skipKey: last.skipKey, id: last.id };

    const wanted: { subscriberId: number; window: SendWindow }[] = [];
    const rows: NewPlannedDelivery[] = [];
    for (const s of page) {
      const windows = windowsFor(s.timeZone);
      if (windows) {
        for (const w of windows) wanted.push({ subscriberId: s.id, window: w });
      } else {
        // Skipped, visibly: one row per UTC day, with the window taken in UTC for want of a real zone.
        logger.warn('subscriber has an invalid time zone; skipped', {
          subscriberId: s.id,
          timeZone: s.timeZone,
        });
        const utc = windowsToPlan('UTC', new Date(`${utcToday}T00:00:00Z`), { window, horizonHours: 24 })[0];
        if (utc) rows.push(skippedRow(s.id, utc, 'bad_timezone', s.timeZone));
      }
    }
    const dates = wanted.map((w) => w.window.localDate).sort();
    const existing = await existingDeliveryKeys(
      db,
      page.map((s) => s.id),
      dates[0] ?? utcToday,
      dates[dates.length - 1] ?? utcToday,
    );

    // Page order is priority order (fair rotation), so capacity goes to the front of the queue first.
    for (const { subscriberId, window: w } of wanted) {
      if (existing.has(`${subscriberId}|${w.localDate}`)) continue;
      const usable = usableWindow(w, now, PLAN_LEAD_MS);
      const slot = ledger.assign(usable.start, usable.end, random);
      rows.push(
        slot.ok
          ? {
              subscriberId,
              localDate: w.localDate,
              timeZone: w.timeZone,
              windowStart: w.start,
              windowEnd: w.end,
              plannedAt: slot.at,
              state: 'planned',
              reason: null,
            }
          : skippedRow(subscriberId, w, slot.reason),
      );
    }

    const inserted = await db.transaction().execute(async (trx) => {
      const created = await insertPlannedDeliveries(trx, rows);
      await recordQuotaSkips(
        trx,
        created
          .filter((r) => r.state === 'skipped' && r.reason !== 'bad_timezone')
          .map((r) => ({ subscriberId: r.subscriberId, localDate: r.localDate })),
      );
      return created;
    });
    for (const r of inserted) {
      if (r.state === 'planned') summary.planned++;
      else summary.skipped[r.reason ?? 'unknown'] = (summary.skipped[r.reason ?? 'unknown'] ?? 0) + 1;
    }
  }
}

function skippedRow(subscriberId: number, w: SendWindow, reason: string, timeZone = w.timeZone) {
  return {
    subscriberId,
    localDate: w.localDate,
    timeZone,
    windowStart: w.start,
    windowEnd: w.end,
    plannedAt: null,
    state: 'skipped',
    reason,
  } satisfies NewPlannedDelivery;
}

async function scheduleDeliveries(deps: PlanDayDeps, now: Date, summary: PlanSummary): Promise<void> {
  const { db, scheduler } = deps;
  const notBefore = new Date(now.getTime() + SCHEDULE_LEAD_MS);
  summary.missed = await markMissedSchedules(db, notBefore);

  let after: { plannedAt: Date; id: string } | null = null;
  for (;;) {
    const page = await pageUnscheduledDeliveries(db, notBefore, after, SCHEDULE_PAGE);
    if (page.length === 0) break;
    const last = page[page.length - 1] as (typeof page)[number];
    after = { plannedAt: last.plannedAt, id: last.id };

    if (deps.deadline && Date.now() >= deps.deadline.getTime()) {
      summary.remaining += page.length;
      continue;
    }
    const outcomes = await mapWithConcurrency(
      page,
      deps.scheduleConcurrency ?? 16,
      async (d): Promise<ScheduleOutcome | null> => {
        if (deps.deadline && Date.now() >= deps.deadline.getTime()) return null;
        try {
          const name = await scheduler.schedule({
            deliveryId: d.id,
            at: d.plannedAt,
            windowEnd: d.windowEnd,
          });
          return { id: d.id, scheduleName: name };
        } catch (error) {
          const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          logger.warn('could not create schedule; the next run retries', {
            deliveryId: d.id,
            error: message,
          });
          return { id: d.id, error: message };
        }
      },
    );
    const done = outcomes.filter((o): o is ScheduleOutcome => o !== null);
    await recordScheduleOutcomes(db, done);
    for (const o of done) {
      if ('scheduleName' in o) summary.scheduled++;
      else summary.failed++;
    }
    summary.remaining += outcomes.length - done.length;
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapWithConcurrency<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
