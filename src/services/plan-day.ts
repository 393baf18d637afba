// The daily planner: for every active subscriber, the next send window(s) within the horizon get a
// delivery at a random, capacity-checked instant; then each planned delivery gets a one-shot schedule.
// Both phases are resumable: rows are unique per (subscriber, local date) and schedule progress is stored
// per delivery, so a run that dies half-way is finished by the next one.
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  countUnscheduledDeliveries,
  insertPlannedDeliveries,
  type MissedOutcome,
  missedDeliveries,
  type NewPlannedDelivery,
  pageSubscribersForPlanning,
  pageUnscheduledDeliveries,
  plannedSendsPerSecond,
  recordQuotaSkips,
  recordScheduleOutcomes,
  resolveMissedDeliveries,
  type ScheduleOutcome,
  type SubscriberCursor,
  withPlannerLock,
} from '../db/repositories/deliveries/planning.js';
import { usableWindow, windowsToPlan } from '../domain/planning-horizon.js';
import { addDays, InvalidTimeZone, type SendWindow } from '../domain/send-window.js';
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
  /** Subscribers per page (default 5,000). */
  pageSize?: number;
  /** Schedule calls in flight at once (default 16). */
  scheduleConcurrency?: number;
}

export interface PlanSummary {
  /**
   * `completed`, or `another_run_in_progress` when a concurrent run (EventBridge may deliver an event
   * twice) holds the planner lock; that run does the work and every count here is zero.
   */
  status: 'completed' | 'another_run_in_progress';
  /** Deliveries this run created in state planned. */
  planned: number;
  /**
   * Deliveries this run created or ended in state skipped, by reason (quota, capacity, bad_timezone, and
   * missed for a delivery whose time passed unscheduled and whose window has no room left).
   */
  skipped: Record<string, number>;
  /** Schedules created (or found already created) this run. */
  scheduled: number;
  /** Schedule calls that failed this run; recorded per delivery and retried by the next run. */
  failed: number;
  /** Planned deliveries whose time passed before any run could schedule them (replanned or skipped). */
  missed: number;
  /** Of the missed, those moved to a later second of their still-open window (and scheduled there). */
  replanned: number;
  /** Planned deliveries left unscheduled because the deadline came first; the next run resumes them. */
  remaining: number;
}

/** A schedule must exist a little before its time: closer than this and it is not attempted. */
const SCHEDULE_LEAD_MS = 60_000;
/** New windows must have at least this much left to be planned (room to create the schedule). */
const PLAN_LEAD_MS = 5 * 60_000;
/**
 * No send is planned in the window's last 2 minutes: the bench's simulated day showed sends planned in
 * the final seconds reaching the sender after the window closed (firing delay + writing + pace queue),
 * where they are skipped as late. 2 minutes covers a Scheduler retry and a full turn in the queue.
 */
export const SEND_TAIL_MARGIN_MS = 2 * 60_000;
const SCHEDULE_PAGE = 1000;

/**
 * One planner run. Runs never overlap: the run holds a Postgres advisory lock on one connection and does
 * all its work on it; a run that finds the lock taken returns at once with status
 * `another_run_in_progress`.
 */
export async function planDay(deps: PlanDayDeps, now: Date): Promise<PlanSummary> {
  const summary: PlanSummary = {
    status: 'completed',
    planned: 0,
    skipped: {},
    scheduled: 0,
    failed: 0,
    missed: 0,
    replanned: 0,
    remaining: 0,
  };
  const run = await withPlannerLock(deps.db, async (conn) => {
    const locked = { ...deps, db: conn };
    await planDeliveries(locked, now, summary);
    await scheduleDeliveries(locked, now, summary);
  });
  if (!run.acquired) {
    summary.status = 'another_run_in_progress';
    logger.warn('another planner run is in progress; this one did nothing');
    return summary;
  }
  logger.info('planner run finished', { ...summary });
  return summary;
}

const countSkip = (summary: PlanSummary, reason: string) => {
  summary.skipped[reason] = (summary.skipped[reason] ?? 0) + 1;
};

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

  // Earlier deliveries whose time passed before they got a schedule go first: they were promised today.
  await replanMissed(db, ledger, now, random, summary);

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
  // A subscriber with an invalid zone gets one skipped row, its window taken in UTC for want of a real zone.
  const utcWindow = windowsToPlan('UTC', new Date(`${utcToday}T00:00:00Z`), { window, horizonHours: 24 })[0];
  // Local dates any zone can have within the horizon (UTC−12 … UTC+14, plus yesterday's open window).
  const dates = {
    from: addDays(utcToday, -2),
    to: addDays(utcToday, Math.ceil(settings.PLANNER_HORIZON_HOURS / 24) + 2),
  };
  let cursor: SubscriberCursor | null = null;
  for (;;) {
    const page = await pageSubscribersForPlanning(db, cursor, deps.pageSize ?? 5000, dates);
    if (page.length === 0) break;
    const last = page[page.length - 1] as (typeof page)[number];
    cursor = { skipKey: last.skipKey, id: last.id };

    // Page order is priority order (fair rotation), so capacity goes to the front of the queue first.
    const rows: NewPlannedDelivery[] = [];
    for (const s of page) {
      const windows = windowsFor(s.timeZone);
      if (!windows) {
        logger.warn('subscriber has an invalid time zone; skipped', {
          subscriberId: s.id,
          timeZone: s.timeZone,
        });
        if (utcWindow) rows.push(skippedRow(s.id, utcWindow, 'bad_timezone', s.timeZone));
        continue;
      }
      for (const w of windows) {
        if (s.plannedDates.includes(w.localDate)) continue;
        const usable = usableWindow(w, now, PLAN_LEAD_MS, SEND_TAIL_MARGIN_MS);
        const slot = ledger.assign(usable.start, usable.end, random);
        rows.push(
          slot.ok
            ? {
                subscriberId: s.id,
                localDate: w.localDate,
                timeZone: w.timeZone,
                windowStart: w.start,
                windowEnd: w.end,
                plannedAt: slot.at,
                state: 'planned',
                reason: null,
              }
            : skippedRow(s.id, w, slot.reason),
        );
      }
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
      else countSkip(summary, r.reason ?? 'unknown');
    }
  }
}

/**
 * Planned deliveries that never got a schedule and whose time has (nearly) passed: moved to a random free
 * second later in the same window when it is still open, else skipped with reason `missed` so an operator
 * sees them. The schedule phase of this run then schedules the moved ones.
 */
async function replanMissed(
  db: Db,
  ledger: CapacityLedger,
  now: Date,
  random: Random,
  summary: PlanSummary,
): Promise<void> {
  const missed = await missedDeliveries(db, new Date(now.getTime() + SCHEDULE_LEAD_MS));
  if (missed.length === 0) return;
  const outcomes: MissedOutcome[] = missed.map((d) => {
    ledger.release(d.plannedAt);
    const usable = usableWindow(
      { start: d.windowStart, end: d.windowEnd },
      now,
      PLAN_LEAD_MS,
      SEND_TAIL_MARGIN_MS,
    );
    const slot = ledger.assign(usable.start, usable.end, random);
    if (slot.ok) return { id: d.id, plannedAt: slot.at };
    ledger.reserve(d.plannedAt);
    return { id: d.id, skipReason: 'missed' };
  });
  const changed = await resolveMissedDeliveries(db, outcomes);
  for (const r of changed) {
    summary.missed++;
    if (r.state === 'planned') summary.replanned++;
    else countSkip(summary, 'missed');
  }
  if (changed.length > 0) {
    logger.warn('deliveries missed their time before a schedule existed', {
      missed: summary.missed,
      replanned: summary.replanned,
    });
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
  if (deps.deadline && Date.now() >= deps.deadline.getTime()) {
    summary.remaining = await countUnscheduledDeliveries(db, notBefore);
    return;
  }

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
          logger.warn('could not create schedule; the next run retries', { deliveryId: d.id, error });
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
