// The daily planner: for every active subscriber, the next send window(s) within the horizon get a
// delivery at a random, capacity-checked instant; then each planned delivery gets a one-shot schedule.
// Both phases are resumable: rows are unique per (subscriber, local date) and schedule progress is stored
// per delivery, so a run that dies half-way is finished by the next one.
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  countUnscheduledDeliveries,
  type DecidedRows,
  datesProgress,
  insertDecisions,
  type MissedOutcome,
  markDatesConsidered,
  markDatesStarted,
  missedDeliveries,
  type PlanningSubscriber,
  type PlanningWindow,
  pageSubscribersForPlanning,
  pageUnscheduledDeliveries,
  plannedLoad,
  recordRotationSkips,
  recordScheduleOutcomes,
  resolveMissedDeliveries,
  type ScheduleOutcome,
  type SubscriberCursor,
  withPlannerLock,
} from '../db/repositories/deliveries/planning.js';
import type { PlannerSkipReason } from '../domain/delivery.js';
import { datesToPlan, usableWindow } from '../domain/planning-horizon.js';
import { decideDate, PLANNED, SKIP_QUOTA } from '../domain/quota.js';
import { InvalidTimeZone, localDateAt, sendWindowOn, type WindowMinutes } from '../domain/send-window.js';
import { CapacityLedger, openAiMessagesPerMinute, type Random } from '../domain/slots.js';
import { logger } from '../logger.js';
import { type DeliveryScheduler, ScheduleQuotaExceeded } from './ports.js';

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
  /** Subscribers read per statement (default 50,000). */
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
  /**
   * Planned deliveries left unscheduled because the deadline came first, or because the account's schedule
   * quota was found full (no call could succeed); the next run resumes them.
   */
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
const SCHEDULE_PAGE = 5000;

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

const countSkip = (summary: PlanSummary, reason: string, by = 1) => {
  summary.skipped[reason] = (summary.skipped[reason] ?? 0) + by;
};

const DAY_MS = 86_400_000;
/** Rows per insert statement (each is its own transaction: a run cut short keeps what it wrote). */
const INSERT_CHUNK = 20_000;

/**
 * Decides every local date in the horizon, whole: for each date, who is sent (the quota, in rotation
 * order across all zones) and when (a uniform draw over each window, within the pace); then writes it.
 */
async function planDeliveries(deps: PlanDayDeps, now: Date, summary: PlanSummary): Promise<void> {
  const { db, settings } = deps;
  const random = deps.random ?? Math.random;
  const window = { startMinute: settings.SEND_WINDOW_START, endMinute: settings.SEND_WINDOW_END };
  const dates = datesToPlan(now, {
    window,
    horizonHours: settings.PLANNER_HORIZON_HOURS,
    minLeadMs: PLAN_LEAD_MS,
  });
  const utcToday = now.toISOString().slice(0, 10);
  const first = dates[0] ?? utcToday;
  const last = dates[dates.length - 1] ?? utcToday;

  // What is already planned around these dates (the pace ledger, the quota used per date), loaded once
  // and only when there is something to decide: every window of these dates lies between 10:00 UTC the
  // day before the first and the end of the day after the last (UTC+14 to UTC−12).
  let loaded: Promise<{ ledger: CapacityLedger; quotaUsed: Map<string, number> }> | undefined;
  const alreadyPlanned = () => {
    loaded ??= (async () => {
      const ledger = new CapacityLedger({
        perSecond: settings.TWILIO_MESSAGES_PER_SECOND,
        perMinute: openAiMessagesPerMinute({
          requestsPerMinute: settings.OPENAI_REQUESTS_PER_MIN,
          tokensPerMinute: settings.OPENAI_TOKENS_PER_MIN,
          expectedTokensPerMessage: settings.OPENAI_EXPECTED_TOKENS_PER_MESSAGE,
        }),
      });
      const quotaUsed = new Map<string, number>();
      const from = new Date(Date.parse(`${first}T00:00:00Z`) - DAY_MS);
      const to = new Date(Date.parse(`${last}T00:00:00Z`) + 2 * DAY_MS);
      for (const row of await plannedLoad(db, from, to)) {
        ledger.reserve(new Date(row.second * 1000), row.sends);
        quotaUsed.set(row.localDate, (quotaUsed.get(row.localDate) ?? 0) + row.quotaUsed);
      }
      return { ledger, quotaUsed };
    })();
    return loaded;
  };

  // Earlier deliveries whose time passed before they got a schedule go first: they were promised today.
  await replanMissed(db, alreadyPlanned, now, random, summary);

  const { progress, seenBefore } = await datesProgress(db, dates);
  const subscribers = await readSubscribers(db, dates, progress, deps.pageSize ?? 50_000);
  if (subscribers.length === 0) {
    await markDatesStarted(
      db,
      dates.filter((d) => !progress.has(d)),
    );
    await markDatesConsidered(db, dates, seenBefore);
    return;
  }
  const { ledger, quotaUsed } = await alreadyPlanned();
  const windows = new PlanningWindows(window, now);
  const writer = new DecisionWriter(db, windows.all);
  await markDatesStarted(
    db,
    dates.filter((d) => !progress.has(d)),
  );

  // Rotation order: the database's (most recently skipped first), then updated date by date.
  let order = subscribers.map((_, i) => i);
  const rotation = new Map<number, { localDate: string; rank: number }>();
  for (const date of dates) {
    const windowOf = new Map<string, number | null>();
    const candidates = { subscriber: [] as number[], window: [] as number[] };
    for (const i of order) {
      const s = subscribers[i] as PlanningSubscriber;
      if (!s.missingDates.includes(date)) continue;
      let w = windowOf.get(s.timeZone);
      if (w === undefined) {
        w = windows.usable(s.timeZone, date);
        windowOf.set(s.timeZone, w);
      }
      if (w === null) continue;
      candidates.subscriber.push(i);
      candidates.window.push(w);
    }
    if (candidates.subscriber.length === 0) continue;
    const quotaLeft = Math.max(0, settings.TWILIO_MESSAGES_PER_DAY - (quotaUsed.get(date) ?? 0));
    const { outcome, second } = decideDate(candidates, quotaLeft, windows.usableSeconds, ledger, random);
    const skippedNow = new Set<number>();
    for (const [c, i] of candidates.subscriber.entries()) {
      const id = (subscribers[i] as PlanningSubscriber).id;
      const w = candidates.window[c] as number;
      if (outcome[c] === PLANNED) {
        writer.add(id, w, second[c] as number, null);
      } else {
        writer.add(id, w, null, outcome[c] === SKIP_QUOTA ? 'quota' : 'capacity');
        skippedNow.add(i);
      }
    }
    // Postgres writes this date while the next one is decided.
    await writer.send();
    // Whoever was skipped on this date goes to the front for the next one, in the order they had.
    const skippedInOrder = order.filter((i) => skippedNow.has(i));
    for (const [position, i] of skippedInOrder.entries()) {
      rotation.set(i, { localDate: date, rank: skippedInOrder.length - position });
    }
    if (skippedInOrder.length > 0) order = [...skippedInOrder, ...order.filter((i) => !skippedNow.has(i))];
  }

  // A subscriber with an invalid zone gets one skipped row, its window taken in UTC for want of a real zone.
  for (const s of subscribers) {
    if (windows.valid(s.timeZone) || !s.missingDates.includes(utcToday)) continue;
    logger.warn('subscriber has an invalid time zone; skipped', { subscriberId: s.id, timeZone: s.timeZone });
    writer.add(s.id, windows.utc(utcToday, s.timeZone), null, 'bad_timezone');
  }

  for (const c of await writer.finish()) {
    if (c.state === 'planned') summary.planned += c.count;
    else countSkip(summary, c.reason ?? 'unknown', c.count);
  }
  await recordRotationSkips(
    db,
    [...rotation].map(([i, r]) => ({ subscriberId: (subscribers[i] as PlanningSubscriber).id, ...r })),
  );
  // Every subscriber changed before `seenBefore` has now had its chance on these dates.
  await markDatesConsidered(db, dates, seenBefore);
}

/**
 * Collects decided deliveries and inserts them a chunk at a time while the caller goes on deciding: a
 * chunk is sent as soon as it is full, at most two are in flight, and `finish` sends the rest and waits.
 * Each chunk is its own statement: a run cut short keeps what it wrote, and the next run decides the rest.
 */
class DecisionWriter {
  private rows: DecidedRows = { subscriberId: [], window: [], at: [], reason: [] };
  private readonly inFlight: Promise<InsertedCounts>[] = [];

  constructor(
    private readonly db: Db,
    private readonly windows: readonly PlanningWindow[],
  ) {}

  add(subscriberId: number, window: number, at: number | null, reason: PlannerSkipReason | null): void {
    this.rows.subscriberId.push(subscriberId);
    this.rows.window.push(window);
    this.rows.at.push(at);
    this.rows.reason.push(reason);
  }

  /** Sends full chunks; returns once Postgres has them (and at most one earlier chunk is unfinished). */
  async send(all = false): Promise<void> {
    while (this.rows.subscriberId.length >= (all ? 1 : INSERT_CHUNK)) {
      const n = Math.min(INSERT_CHUNK, this.rows.subscriberId.length);
      const chunk: DecidedRows = {
        subscriberId: this.rows.subscriberId.splice(0, n),
        window: this.rows.window.splice(0, n),
        at: this.rows.at.splice(0, n),
        reason: this.rows.reason.splice(0, n),
      };
      const insert = insertDecisions(this.db, this.windows, chunk);
      insert.catch(() => {}); // awaited by finish(); meanwhile a failure must not count as unhandled
      this.inFlight.push(insert);
      // A failed chunk stops the run before more are queued behind it.
      if (this.inFlight.length >= 2) await this.inFlight[this.inFlight.length - 2];
    }
    // Let the queued statement go out before the caller returns to synchronous work.
    await new Promise((resolve) => setImmediate(resolve));
  }

  async finish(): Promise<InsertedCounts> {
    await this.send(true);
    return (await Promise.all(this.inFlight)).flat();
  }
}
type InsertedCounts = { state: string; reason: string | null; count: number }[];

/** Active subscribers lacking a delivery on some of `dates`, in rotation order, with the dates they lack. */
async function readSubscribers(
  db: Db,
  dates: readonly string[],
  progress: ReadonlyMap<string, Date | null>,
  pageSize: number,
): Promise<PlanningSubscriber[]> {
  const all: PlanningSubscriber[] = [];
  let cursor: SubscriberCursor | null = null;
  for (;;) {
    const page = await pageSubscribersForPlanning(db, cursor, pageSize, dates, progress);
    all.push(...page);
    if (page.length < pageSize) return all;
    const last = page[page.length - 1] as PlanningSubscriber;
    cursor = { skipKey: last.skipKey, skipRank: last.skipRank, id: last.id };
  }
}

/**
 * Each zone's window on each date, worked out once per run (every subscriber in a zone shares it) and
 * numbered for the insert; null for a zone that is not a valid IANA zone or a window with no usable time.
 */
class PlanningWindows {
  readonly all: PlanningWindow[] = [];
  /** Usable part of each window in `all`, in whole seconds [start, end). */
  readonly usableSeconds: { start: number; end: number }[] = [];
  private readonly index = new Map<string, number | null>();
  private readonly zones = new Map<string, boolean>();

  constructor(
    private readonly window: WindowMinutes,
    private readonly now: Date,
  ) {}

  valid(zone: string): boolean {
    let ok = this.zones.get(zone);
    if (ok === undefined) {
      try {
        localDateAt(zone, this.now);
        ok = true;
      } catch (error) {
        if (!(error instanceof InvalidTimeZone)) throw error;
        ok = false;
      }
      this.zones.set(zone, ok);
    }
    return ok;
  }

  /** The index of `zone`'s window on `date` when it still has usable time, else null. */
  usable(zone: string, date: string): number | null {
    const key = `${zone}\u0000${date}`;
    let i = this.index.get(key);
    if (i === undefined) {
      i = null;
      if (this.valid(zone)) {
        const w = sendWindowOn(zone, date, this.window);
        const usable = usableWindow(w, this.now, PLAN_LEAD_MS, SEND_TAIL_MARGIN_MS);
        const start = Math.ceil(usable.start.getTime() / 1000);
        const end = Math.ceil(usable.end.getTime() / 1000);
        if (end > start) i = this.add(w, { start, end });
      }
      this.index.set(key, i);
    }
    return i;
  }

  /** A window for a subscriber whose zone is invalid: the send window of `date` in UTC. */
  utc(date: string, storedZone: string): number {
    const key = `bad\u0000${storedZone}\u0000${date}`;
    let i = this.index.get(key);
    if (i === undefined || i === null) {
      i = this.add({ ...sendWindowOn('UTC', date, this.window), timeZone: storedZone }, { start: 0, end: 0 });
      this.index.set(key, i);
    }
    return i;
  }

  private add(w: PlanningWindow, usable: { start: number; end: number }): number {
    this.all.push({ localDate: w.localDate, timeZone: w.timeZone, start: w.start, end: w.end });
    this.usableSeconds.push(usable);
    return this.all.length - 1;
  }
}

/**
 * Planned deliveries that never got a schedule and whose time has (nearly) passed: moved to a random free
 * second later in the same window when it is still open, else skipped with reason `missed` so an operator
 * sees them. The schedule phase of this run then schedules the moved ones.
 */
async function replanMissed(
  db: Db,
  alreadyPlanned: () => Promise<{ ledger: CapacityLedger }>,
  now: Date,
  random: Random,
  summary: PlanSummary,
): Promise<void> {
  const missed = await missedDeliveries(db, new Date(now.getTime() + SCHEDULE_LEAD_MS));
  if (missed.length === 0) return;
  const { ledger } = await alreadyPlanned();
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

async function scheduleDeliveries(deps: PlanDayDeps, now: Date, summary: PlanSummary): Promise<void> {
  const { db, scheduler } = deps;
  const notBefore = new Date(now.getTime() + SCHEDULE_LEAD_MS);
  if (deps.deadline && Date.now() >= deps.deadline.getTime()) {
    summary.remaining = await countUnscheduledDeliveries(db, notBefore);
    return;
  }
  // Once the account's schedule quota is found full, every further call would fail the same way.
  let quotaFull = false;
  const stopCalling = () =>
    quotaFull || (deps.deadline !== undefined && Date.now() >= deps.deadline.getTime());

  let after: { plannedAt: Date; id: string } | null = null;
  for (;;) {
    const page = await pageUnscheduledDeliveries(db, notBefore, after, SCHEDULE_PAGE);
    if (page.length === 0) break;
    const last = page[page.length - 1] as (typeof page)[number];
    after = { plannedAt: last.plannedAt, id: last.id };

    if (stopCalling()) {
      summary.remaining += page.length;
      continue;
    }
    const outcomes = await mapWithConcurrency(
      page,
      deps.scheduleConcurrency ?? 16,
      async (d): Promise<ScheduleOutcome | null> => {
        if (stopCalling()) return null;
        try {
          const name = await scheduler.schedule({
            deliveryId: d.id,
            at: d.plannedAt,
            windowEnd: d.windowEnd,
          });
          return { id: d.id, scheduleName: name };
        } catch (error) {
          const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          if (error instanceof ScheduleQuotaExceeded) {
            if (!quotaFull)
              logger.error(
                'the schedule quota is full: this run creates no more schedules, the rest wait for a later run (raise "Number of schedules" in Service Quotas, DEPLOYMENT.md)',
                { deliveryId: d.id, error },
              );
            quotaFull = true;
          } else {
            logger.warn('could not create schedule; the next run retries', { deliveryId: d.id, error });
          }
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
