// A subscriber who changes time zone (API PATCH, `set-timezone`, dev page: all patchSubscriber) still gets at
// most one text a local date, between 12:00 and 17:00, in the zone they have when it is sent, and loses no
// day whose planned instant still fits the new zone. Real Postgres, the real planDay, patchSubscriber and
// sendDailyMessage; a scheduler that fires each schedule at its instant unless it was cancelled, as
// EventBridge Scheduler does.
import fc from 'fast-check';
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { createCuratedWriter } from '../../src/adapters/curated-writer.js';
import { sendWindow } from '../../src/config.js';
import { lockPlannedDeliveries, restampDeliveries } from '../../src/db/repositories/deliveries/callbacks.js';
import { claimDelivery } from '../../src/db/repositories/deliveries/sending.js';
import type { Delivery } from '../../src/db/schema.js';
import type { E164 } from '../../src/domain/phone.js';
import { sendWindowOn } from '../../src/domain/send-window.js';
import { seededRandom } from '../../src/domain/slots.js';
import type { TimeZone } from '../../src/domain/time-zone.js';
import { planDay } from '../../src/services/plan-day.js';
import type { DeliveryScheduler, OutboundSms, SmsReceipt, SmsSender } from '../../src/services/ports.js';
import { type SendOutcome, sendDailyMessage } from '../../src/services/send-daily-message.js';
import { patchSubscriber } from '../../src/services/subscribers.js';
import { useTestDb } from '../support/db.js';
import { PLANNER_TEST_SETTINGS } from '../support/planner-settings.js';
import { CountingLimiter, fixedClock } from '../support/sender-doubles.js';
import { newSid } from '../support/webhook-doubles.js';

const { db } = useTestDb();
const PHONE = '+14155550123' as E164;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const settings = PLANNER_TEST_SETTINGS;
/** The planner's window (12:00–17:00): what patchSubscriber must judge a kept delivery by. */
const WINDOW = sendWindow(settings);

/** What the subscriber's phone received: when, and the zone they had at that moment. */
interface Text {
  at: Date;
  zone: string;
}

/** EventBridge Scheduler in miniature: a schedule fires at its instant unless deleted first. */
class ArmedSchedules implements DeliveryScheduler {
  readonly armed = new Map<string, Date>();
  readonly cancelled: string[] = [];
  async schedule(request: { deliveryId: string; at: Date }): Promise<string> {
    this.armed.set(request.deliveryId, request.at);
    return `delivery-${request.deliveryId}`;
  }
  async cancel(deliveryId: string): Promise<void> {
    this.armed.delete(deliveryId);
    this.cancelled.push(deliveryId);
  }
  next(): [string, Date] | undefined {
    return [...this.armed].sort((a, b) => a[1].getTime() - b[1].getTime())[0];
  }
}

/** What one zone change did to the deliveries that were planned when it happened. */
interface ZoneChange {
  zone: string;
  before: Delivery[];
  /** The same rows (by id) just after the change. */
  after: Delivery[];
  /** Deliveries whose schedules the change removed. */
  unscheduled: string[];
}

const patchDeps = (scheduler: DeliveryScheduler) => ({ db: db(), scheduler, window: WINDOW });

/** One subscriber's days: planner runs and zone changes at given instants, each schedule firing the sender. */
function world(start: string) {
  const clock = fixedClock(start);
  const scheduler = new ArmedSchedules();
  const texts: Text[] = [];
  const outcomes: SendOutcome[] = [];
  const changes: ZoneChange[] = [];
  const sms: SmsSender = {
    async send(message: OutboundSms): Promise<SmsReceipt> {
      const { time_zone } = await db()
        .selectFrom('subscribers')
        .select('time_zone')
        .where('phone', '=', message.to)
        .executeTakeFirstOrThrow();
      texts.push({ at: clock.now(), zone: time_zone });
      return { sid: newSid(), status: 'queued', segments: 1 };
    },
  };
  const sendDeps = () => ({
    db: db(),
    sms,
    scheduler,
    writer: createCuratedWriter({ random: () => 0 }),
    limiter: new CountingLimiter({}, clock),
    clock,
    settings: {
      publicBaseUrl: 'https://sms.example.com',
      messagesPerDay: 1000,
      dailyCostLimitUsd: 100,
      prices: { inputPerMTokUSD: 0, outputPerMTokUSD: 0, perSegmentUSD: 0 },
      writeTimeoutMs: 20_000,
    },
  });
  const steps: { at: Date; act: () => Promise<unknown> }[] = [];
  let seed = 1;
  return {
    scheduler,
    texts,
    outcomes,
    changes,
    clock,
    plan(at: string | Date) {
      const s = seed++;
      steps.push({
        at: new Date(at),
        act: () => planDay({ db: db(), scheduler, settings, random: seededRandom(s) }, clock.now()),
      });
      return this;
    },
    moveTo(at: string | Date, zone: string) {
      steps.push({
        at: new Date(at),
        act: async () => {
          const before = await db()
            .selectFrom('deliveries')
            .selectAll()
            .where('state', '=', 'planned')
            .execute();
          const cancelledBefore = scheduler.cancelled.length;
          await patchSubscriber(patchDeps(scheduler), PHONE, { timeZone: zone as TimeZone });
          const ids = before.map((d) => d.id);
          const after =
            ids.length === 0
              ? []
              : await db().selectFrom('deliveries').selectAll().where('id', 'in', ids).execute();
          changes.push({ zone, before, after, unscheduled: scheduler.cancelled.slice(cancelledBefore) });
        },
      });
      return this;
    },
    /** Plays the steps and the schedules they create in time order, until `until`. */
    async live(until: string | Date) {
      const end = new Date(until).getTime();
      steps.sort((a, b) => a.at.getTime() - b.at.getTime());
      for (;;) {
        const step = steps[0];
        const fire = scheduler.next();
        if (fire && fire[1].getTime() <= end && (!step || fire[1].getTime() < step.at.getTime())) {
          scheduler.armed.delete(fire[0]);
          clock.set(fire[1].toISOString());
          outcomes.push(await sendDailyMessage(sendDeps(), fire[0]));
        } else if (step && step.at.getTime() <= end) {
          steps.shift();
          clock.set(step.at.toISOString());
          await step.act();
        } else return texts;
      }
    },
  };
}

async function subscriberIn(zone: string) {
  await db().insertInto('subscribers').values({ phone: PHONE, time_zone: zone, status: 'active' }).execute();
}

const localTime = (t: Text) => DateTime.fromJSDate(t.at, { zone: t.zone });

/** Every text lands in 12:00–17:00 of the zone the subscriber had when it was sent. */
function outsideWindow(texts: Text[]): string[] {
  return texts
    .map(localTime)
    .filter((l) => l.hour < 12 || l.hour >= 17)
    .map((l) => l.toISO() ?? '');
}

/**
 * Whether `at` is inside 12:00–17:00 of `localDate` in `zone`, read off the zone's clock (luxon), not
 * computed the way the service computes windows.
 */
function fitsWindowOn(zone: string, localDate: string, at: Date): boolean {
  const local = DateTime.fromJSDate(at, { zone });
  const minute = local.hour * 60 + local.minute;
  return local.toISODate() === localDate && minute >= WINDOW.startMinute && minute < WINDOW.endMinute;
}

const wallClock = (zone: string, at: Date) => DateTime.fromJSDate(at, { zone }).toFormat('yyyy-MM-dd HH:mm');

/**
 * What a zone change got wrong: a planned delivery whose instant still fits the new zone's window on its
 * local date must be kept at that instant, stamped with the new zone and its window, its schedule left
 * alone; every other one cancelled with its schedule removed.
 */
function zoneChangeProblems(change: ZoneChange): string[] {
  const problems: string[] = [];
  for (const was of change.before) {
    const now = change.after.find((d) => d.id === was.id);
    const at = was.planned_at as Date;
    const label = `${was.local_date} at ${at.toISOString()} (${was.time_zone} → ${change.zone})`;
    if (!now) problems.push(`${label}: row gone`);
    else if (fitsWindowOn(change.zone, was.local_date, at)) {
      const window = `${wallClock(change.zone, now.window_start)}–${wallClock(change.zone, now.window_end)}`;
      const expected = `${was.local_date} 12:00–${was.local_date} 17:00`;
      if (now.state !== 'planned') problems.push(`${label}: fits the new zone but is ${now.state}`);
      else if (now.time_zone !== change.zone) problems.push(`${label}: kept, still stamped ${now.time_zone}`);
      else if (window !== expected) problems.push(`${label}: kept with window ${window}`);
      else if ((now.planned_at as Date).getTime() !== at.getTime()) problems.push(`${label}: moved`);
      if (change.unscheduled.includes(was.id)) problems.push(`${label}: kept, but its schedule was removed`);
    } else {
      if (now.state !== 'cancelled' || now.reason !== 'time_zone_changed')
        problems.push(`${label}: does not fit the new zone but is ${now.state} (${now.reason})`);
      if (!change.unscheduled.includes(was.id)) problems.push(`${label}: cancelled, schedule left armed`);
    }
  }
  return problems;
}

/**
 * Texts that arrived on a local date that had already had one, in the zone the subscriber had when the
 * later one was sent (what the subscriber lives: "I already got today's message").
 */
function secondsOnOneDate(texts: Text[]): string[] {
  const found: string[] = [];
  texts.forEach((later, j) => {
    const day = localTime(later).toISODate();
    for (const earlier of texts.slice(0, j)) {
      if (DateTime.fromJSDate(earlier.at, { zone: later.zone }).toISODate() === day)
        found.push(`${day} in ${later.zone}: ${earlier.at.toISOString()} and ${later.at.toISOString()}`);
    }
  });
  return found;
}

describe('changing time zone: texts follow the new zone', () => {
  it('Tokyo → New York: no text outside 12–17 New York time', async () => {
    // Prepare: planned in Tokyo for 10 June (03:00–08:00 UTC = 23:00–04:00 New York), then a move.
    await subscriberIn('Asia/Tokyo');
    const w = world('2026-06-09T12:00:00Z')
      .plan('2026-06-09T12:00:00Z')
      .moveTo('2026-06-09T13:00:00Z', 'America/New_York')
      .plan('2026-06-10T12:00:00Z')
      .plan('2026-06-11T12:00:00Z');
    // Act
    const texts = await w.live('2026-06-13T00:00:00Z');
    // Assess
    expect(outsideWindow(texts)).toEqual([]);
    expect(secondsOnOneDate(texts)).toEqual([]);
    expect(texts.length).toBeGreaterThanOrEqual(2); // the move costs a day at most, not the subscription
  });

  it('London → Dublin: the same clock, so the days already planned are kept and each is texted', async () => {
    // Prepare: 9 and 10 June planned in London at 06:00 UTC (12:00–17:00 BST = 11:00–16:00 UTC, as in
    // Dublin), then a move before either window opens.
    await subscriberIn('Europe/London');
    const w = world('2026-06-09T06:00:00Z')
      .plan('2026-06-09T06:00:00Z')
      .moveTo('2026-06-09T08:00:00Z', 'Europe/Dublin')
      .plan('2026-06-10T06:00:00Z')
      .plan('2026-06-11T06:00:00Z');
    // Act
    const texts = await w.live('2026-06-12T00:00:00Z');
    // Assess: both planned days survive the move, re-stamped Dublin, and every date gets its one text.
    expect(w.changes.map((c) => c.before.map((d) => d.local_date).sort())).toEqual([
      ['2026-06-09', '2026-06-10'],
    ]);
    expect(w.changes.flatMap(zoneChangeProblems)).toEqual([]);
    expect(w.scheduler.cancelled).toEqual([]);
    expect(texts.map((t) => [localTime(t).toISODate(), t.zone])).toEqual([
      ['2026-06-09', 'Europe/Dublin'],
      ['2026-06-10', 'Europe/Dublin'],
      ['2026-06-11', 'Europe/Dublin'],
    ]);
    expect(outsideWindow(texts)).toEqual([]);
  });

  it('Pago Pago → Kiritimati: never two texts on one Kiritimati date', async () => {
    await subscriberIn('Pacific/Pago_Pago');
    const w = world('2026-06-09T12:00:00Z')
      .plan('2026-06-09T12:00:00Z')
      .moveTo('2026-06-09T13:00:00Z', 'Pacific/Kiritimati')
      .plan('2026-06-10T12:00:00Z')
      .plan('2026-06-11T12:00:00Z');
    const texts = await w.live('2026-06-13T00:00:00Z');
    expect(secondsOnOneDate(texts)).toEqual([]);
    expect(outsideWindow(texts)).toEqual([]);
    expect(texts.length).toBeGreaterThanOrEqual(2);
  });

  it('New York → Tokyo after a missed planner run: the date that already had a text gets no second one', async () => {
    // Prepare: the 10 June New York text goes out at 16–21 UTC = 01:00–06:00 on 11 June in Tokyo. The run
    // of 10 June failed, so 11 June was never planned in New York; the late run plans it in Tokyo.
    await subscriberIn('America/New_York');
    const w = world('2026-06-09T12:00:00Z')
      .plan('2026-06-09T12:00:00Z')
      .moveTo('2026-06-10T21:30:00Z', 'Asia/Tokyo')
      .plan('2026-06-11T00:00:00Z')
      .plan('2026-06-11T12:00:00Z');
    const texts = await w.live('2026-06-13T00:00:00Z');
    expect(texts.map((t) => t.zone)).toContain('America/New_York');
    expect(secondsOnOneDate(texts)).toEqual([]);
    expect(outsideWindow(texts)).toEqual([]);
    expect(w.outcomes).toContainEqual(expect.objectContaining({ reason: 'already_sent_today' }));
  });

  it('cancels planned deliveries and deletes their schedules in the change; a claimed one is left to finish', async () => {
    // Prepare: two planned dates in New York; the first one claimed by the sender, in flight.
    await subscriberIn('America/New_York');
    const w = world('2026-06-09T12:00:00Z').plan('2026-06-09T12:00:00Z');
    await w.live('2026-06-09T12:00:00Z');
    const rows = await db()
      .selectFrom('deliveries')
      .select(['id', 'local_date'])
      .orderBy('local_date')
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const [inFlight, ...later] = rows;
    await db()
      .updateTable('deliveries')
      .set({ state: 'sending', claimed_at: new Date() })
      .where('id', '=', inFlight?.id ?? '')
      .execute();
    // Act
    const view = await patchSubscriber(patchDeps(w.scheduler), PHONE, {
      timeZone: 'Asia/Tokyo' as TimeZone,
    });
    // Assess
    expect(view.timeZone).toBe('Asia/Tokyo');
    const after = await db().selectFrom('deliveries').select(['id', 'state', 'reason']).execute();
    expect(after.find((r) => r.id === inFlight?.id)).toMatchObject({ state: 'sending' });
    for (const r of later)
      expect(after.find((a) => a.id === r.id)).toMatchObject({
        state: 'cancelled',
        reason: 'time_zone_changed',
      });
    expect(w.scheduler.cancelled.sort()).toEqual(later.map((r) => r.id).sort());
  });

  it('a sender claiming a kept delivery during the change waits, then gets it as the change left it', async () => {
    // Prepare: 9 June planned in London.
    await subscriberIn('Europe/London');
    const w = world('2026-06-09T06:00:00Z').plan('2026-06-09T06:00:00Z');
    await w.live('2026-06-09T06:00:00Z');
    const first = await db()
      .selectFrom('deliveries')
      .selectAll()
      .orderBy('local_date')
      .executeTakeFirstOrThrow();
    // Act: the change's transaction has locked the planned rows when the sender's claim arrives.
    let claim: Promise<Delivery | undefined> | undefined;
    let claimedDuringChange: unknown;
    await db()
      .transaction()
      .execute(async (trx) => {
        await lockPlannedDeliveries(trx, first.subscriber_id);
        claim = claimDelivery(db(), first.id, new Date('2026-06-09T14:00:00Z'));
        claimedDuringChange = await Promise.race([
          claim,
          new Promise((r) => setTimeout(() => r('waiting'), 300)),
        ]);
        await trx.updateTable('subscribers').set({ time_zone: 'Europe/Dublin' }).execute();
        const window = sendWindowOn('Europe/Dublin', first.local_date, WINDOW);
        await restampDeliveries(trx, [{ id: first.id, ...window }]);
      });
    // Assess: the claim waited for the commit and took the re-stamped row, which the sender checks against Dublin.
    expect(claimedDuringChange).toBe('waiting');
    expect(await claim).toMatchObject({ id: first.id, state: 'sending', time_zone: 'Europe/Dublin' });
  });

  it('keeps planned deliveries when the patch names the zone the subscriber already has', async () => {
    await subscriberIn('America/New_York');
    const w = world('2026-06-09T12:00:00Z').plan('2026-06-09T12:00:00Z');
    await w.live('2026-06-09T12:00:00Z');
    await patchSubscriber(patchDeps(w.scheduler), PHONE, {
      timeZone: 'America/New_York' as TimeZone,
      name: 'Ana',
    });
    const states = await db().selectFrom('deliveries').select('state').execute();
    expect(states.length).toBeGreaterThanOrEqual(2);
    expect(states.every((r) => r.state === 'planned')).toBe(true);
    expect(w.scheduler.cancelled).toEqual([]);
  });

  it('the sender skips a delivery planned in a zone the subscriber no longer has', async () => {
    // Prepare: the zone changed without its deliveries being cancelled (a write that bypassed the service,
    // or a schedule whose row a restore brought back): the New York rows would fire at 01:00–06:00 in Tokyo.
    await subscriberIn('America/New_York');
    const w = world('2026-06-09T12:00:00Z').plan('2026-06-09T12:00:00Z');
    await w.live('2026-06-09T12:00:00Z');
    await db().updateTable('subscribers').set({ time_zone: 'Asia/Tokyo' }).execute();
    // Act
    const texts = await w.live('2026-06-11T00:00:00Z');
    // Assess
    expect(texts).toEqual([]);
    expect(w.outcomes.length).toBeGreaterThanOrEqual(1);
    for (const o of w.outcomes) expect(o).toMatchObject({ outcome: 'skipped', reason: 'time_zone_changed' });
  });
});

const ZONES = [
  'Pacific/Pago_Pago',
  'Pacific/Honolulu',
  'America/Los_Angeles',
  'America/New_York',
  'America/St_Johns',
  'Europe/London',
  'Asia/Kolkata',
  'Asia/Tokyo',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Pacific/Kiritimati',
] as const;

describe('changing time zone, any zones, any moment', () => {
  it('every text lands in 12–17 of the zone the subscriber had when it was sent, at most one per local date', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ZONES),
        fc.array(
          fc.record({ zone: fc.constantFrom(...ZONES), afterMs: fc.integer({ min: 0, max: 3 * DAY_MS }) }),
          {
            minLength: 1,
            maxLength: 2,
          },
        ),
        fc.integer({ min: 0, max: 364 }),
        fc.integer({ min: 0, max: 24 * 60 - 1 }),
        fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        async (from, moves, dayOfYear, runMinute, missedRun) => {
          // Prepare: daily planner runs at one UTC minute (one of them possibly failed), moves at any instant.
          await sql`TRUNCATE subscribers, deliveries, planned_dates, sms_quota_days, usage_daily, message_statuses
            RESTART IDENTITY CASCADE`.execute(db());
          await subscriberIn(from);
          const firstRun = new Date(Date.UTC(2026, 0, 1) + dayOfYear * DAY_MS + runMinute * 60_000);
          const w = world(firstRun.toISOString());
          for (let day = 0; day < 6; day++)
            if (day !== missedRun) w.plan(new Date(firstRun.getTime() + day * DAY_MS));
          for (const move of moves)
            w.moveTo(new Date(firstRun.getTime() + HOUR_MS + move.afterMs), move.zone);
          // Act
          const texts = await w.live(new Date(firstRun.getTime() + 6 * DAY_MS));
          // Assess
          expect(outsideWindow(texts)).toEqual([]);
          expect(secondsOnOneDate(texts)).toEqual([]);
          expect(w.changes.flatMap(zoneChangeProblems)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  }, 300_000);

  /** Zones whose windows meet on the same local date (on some days of the year at least), and two that never do. */
  const NEIGHBOURS: readonly (readonly [string, string])[] = [
    ['Europe/London', 'Europe/Dublin'], // the same clock all year
    ['Europe/London', 'Europe/Lisbon'],
    ['America/New_York', 'America/Toronto'],
    ['Asia/Tokyo', 'Asia/Seoul'],
    ['America/New_York', 'America/Chicago'], // an hour apart: 13–17 New York is 12–16 Chicago
    ['Europe/London', 'Europe/Paris'],
    ['Australia/Lord_Howe', 'Australia/Sydney'], // one clock in the southern summer, 30 minutes in winter
    ['America/St_Johns', 'America/Halifax'], // 30 minutes apart
    ['Asia/Kolkata', 'Asia/Kathmandu'], // 15 minutes apart
    ['America/Phoenix', 'America/Denver'], // one clock in winter, an hour apart in summer
    ['Pacific/Honolulu', 'Pacific/Kiritimati'], // the same clock a day apart: nothing fits
    ['Pacific/Pago_Pago', 'Pacific/Apia'],
  ];
  const zonePair = fc.oneof(
    fc.tuple(fc.constantFrom(...NEIGHBOURS), fc.boolean()).map(([[a, b], swap]) => (swap ? [b, a] : [a, b])),
    fc.tuple(fc.constantFrom(...ZONES), fc.constantFrom(...ZONES)),
  );

  it('a move keeps every planned day that still fits the new window, texts it there, and no date gets two', async () => {
    await fc.assert(
      fc.asyncProperty(
        zonePair,
        fc.integer({ min: 0, max: 2 * DAY_MS }),
        fc.integer({ min: 0, max: 364 }),
        fc.integer({ min: 0, max: 24 * 60 - 1 }),
        fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        async ([from, to], afterMs, dayOfYear, runMinute, missedRun) => {
          // Prepare: daily planner runs at one UTC minute (one of them possibly failed), one move at any instant.
          await sql`TRUNCATE subscribers, deliveries, planned_dates, sms_quota_days, usage_daily, message_statuses
            RESTART IDENTITY CASCADE`.execute(db());
          await subscriberIn(from);
          const firstRun = new Date(Date.UTC(2026, 0, 1) + dayOfYear * DAY_MS + runMinute * 60_000);
          const w = world(firstRun.toISOString());
          for (let day = 0; day < 5; day++)
            if (day !== missedRun) w.plan(new Date(firstRun.getTime() + day * DAY_MS));
          w.moveTo(new Date(firstRun.getTime() + HOUR_MS + afterMs), to);
          // Act
          const texts = await w.live(new Date(firstRun.getTime() + 5 * DAY_MS));
          // Assess: the move decided each planned day by the new clock; what it kept went out, once a date.
          expect(w.changes.flatMap(zoneChangeProblems)).toEqual([]);
          const kept = w.changes.flatMap((c) =>
            c.after.filter((d) => d.state === 'planned').map((d) => d.id),
          );
          const ended =
            kept.length === 0
              ? []
              : await db().selectFrom('deliveries').select('state').where('id', 'in', kept).execute();
          expect(ended.map((d) => d.state)).toEqual(kept.map(() => 'sent'));
          expect(outsideWindow(texts)).toEqual([]);
          expect(secondsOnOneDate(texts)).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  }, 300_000);
});
