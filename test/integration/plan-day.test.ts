// planDay on real Postgres: idempotent re-runs, caps and quota with fair rotation, bad zones, schedule
// progress stored per delivery, and 10,000 subscribers in one run.
import {
  CreateScheduleCommand,
  SchedulerClient,
  ServiceQuotaExceededException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createEventBridgeScheduler } from '../../src/adapters/eventbridge-scheduler.js';
import type { Db } from '../../src/db/connection.js';
import { seededRandom } from '../../src/domain/slots.js';
import { planDay, SEND_TAIL_MARGIN_MS } from '../../src/services/plan-day.js';
import type { DeliveryScheduler, ScheduleRequest } from '../../src/services/ports.js';
import { useTestDb } from '../support/db.js';
import { PLANNER_TEST_SETTINGS } from '../support/planner-settings.js';

const { db } = useTestDb();

const settings = PLANNER_TEST_SETTINGS;

/** Records every schedule request; fails the ids in `failing` once each. */
function fakeScheduler(failing = new Set<string>()): DeliveryScheduler & { requests: ScheduleRequest[] } {
  const requests: ScheduleRequest[] = [];
  return {
    requests,
    async schedule(r) {
      requests.push(r);
      if (failing.delete(r.deliveryId))
        throw Object.assign(new Error('role not assumable'), { name: 'ValidationException' });
      return `delivery-${r.deliveryId}`;
    },
    async cancel() {},
  };
}

async function addSubscribers(d: Db, count: number, zones: string[], status = 'active') {
  await sql`
    INSERT INTO subscribers (phone, status, time_zone)
    SELECT '+1415' || lpad(g::text, 7, '0'), ${status}, (${zones}::text[])[1 + (g % ${zones.length})]
    FROM generate_series(1, ${count}) AS g`.execute(d);
}

const now = new Date('2026-03-07T10:00:00Z'); // New York's spring-forward is the next day

describe('planDay', () => {
  it('plans each active subscriber once per local date; a second run changes nothing', async () => {
    await addSubscribers(db(), 30, ['America/New_York', 'Asia/Kolkata', 'Pacific/Kiritimati']);
    await db()
      .insertInto('subscribers')
      .values({ phone: '+14155559999', time_zone: 'Europe/London', status: 'active', paused: true })
      .execute();
    const first = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings, random: seededRandom(1) },
      now,
    );
    const rows = await db()
      .selectFrom('deliveries')
      .selectAll()
      .orderBy('subscriber_id')
      .orderBy('local_date')
      .execute();

    const second = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings, random: seededRandom(2) },
      now,
    );
    const again = await db()
      .selectFrom('deliveries')
      .selectAll()
      .orderBy('subscriber_id')
      .orderBy('local_date')
      .execute();

    expect(first.planned).toBe(rows.length);
    expect(first.scheduled).toBe(rows.length);
    expect(second).toMatchObject({ planned: 0, scheduled: 0, failed: 0, skipped: {} });
    expect(again).toEqual(rows);
    // The paused subscriber got nothing; every row is inside its window and scheduled.
    expect(rows.every((r) => r.subscriber_id <= 30)).toBe(true);
    for (const r of rows) {
      expect(r.state).toBe('planned');
      expect(r.planned_at?.getTime()).toBeGreaterThanOrEqual(r.window_start.getTime());
      // Never in the window's last minutes, which stay free for sends that fire a little late.
      expect(r.planned_at?.getTime()).toBeLessThanOrEqual(r.window_end.getTime() - SEND_TAIL_MARGIN_MS);
      expect(r.schedule_name).toBe(`delivery-${r.id}`);
      expect(r.scheduled_at).not.toBeNull();
    }
    // A run decides whole local dates: 7 March (its last window, UTC−12, is still ahead) and 8 March (its
    // first window, UTC+14, starts 22:00 UTC, within 26 h). New York gets both; Kiritimati (+14) only 8
    // March (its 7 March window closed at 03:00 UTC); Kolkata both (7 March 06:30–11:30 UTC is still open).
    const dates = (zone: string) =>
      [...new Set(rows.filter((r) => r.time_zone === zone).map((r) => r.local_date))].sort();
    expect(dates('America/New_York')).toEqual(['2026-03-07', '2026-03-08']);
    expect(dates('Pacific/Kiritimati')).toEqual(['2026-03-08']);
    expect(dates('Asia/Kolkata')).toEqual(['2026-03-07', '2026-03-08']);
  });

  it('keeps to the daily quota per local date and rotates fairly: the last skipped go first', async () => {
    await addSubscribers(db(), 10, ['America/New_York']);
    const quota = { ...settings, TWILIO_MESSAGES_PER_DAY: 6 };
    // The run decides 7 and 8 March: 6 planned and 4 skipped on each.
    const day1 = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings: quota, random: seededRandom(3) },
      now,
    );
    expect(day1).toMatchObject({ planned: 12, skipped: { quota: 8 } });
    const outcomes = async (date: string) => {
      const rows = await db()
        .selectFrom('deliveries')
        .select(['subscriber_id', 'state', 'reason', 'planned_at'])
        .where('local_date', '=', date)
        .execute();
      const skipped = rows.filter((r) => r.state === 'skipped');
      expect(skipped.every((r) => r.reason === 'quota' && r.planned_at === null)).toBe(true);
      expect(rows.filter((r) => r.state === 'planned')).toHaveLength(6);
      return new Set(skipped.map((r) => r.subscriber_id));
    };
    const skipped7 = await outcomes('2026-03-07');
    const skipped8 = await outcomes('2026-03-08');
    expect(skipped7.size).toBe(4);
    // Those skipped on the 7th are all served on the 8th.
    for (const id of skipped7) expect(skipped8.has(id)).toBe(false);
    const latest = await db()
      .selectFrom('subscribers')
      .select('id')
      .where('last_quota_skip_date', '=', '2026-03-08')
      .execute();
    expect(new Set(latest.map((r) => r.id))).toEqual(skipped8);

    const nextDay = new Date(now.getTime() + 86_400_000);
    const day2 = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings: quota, random: seededRandom(4) },
      nextDay,
    );
    expect(day2).toMatchObject({ planned: 6, skipped: { quota: 4 } });
    const skipped9 = await outcomes('2026-03-09');
    for (const id of skipped8) expect(skipped9.has(id)).toBe(false);
    // Three dates, 12 skips over 10 subscribers: nobody skipped twice while someone was never skipped.
    const skips = new Map<number, number>();
    for (const set of [skipped7, skipped8, skipped9])
      for (const id of set) skips.set(id, (skips.get(id) ?? 0) + 1);
    expect(skips.size).toBe(10);
    expect(Math.max(...skips.values())).toBe(2);
  });

  it('counts sends already planned against the per-second and per-minute caps', async () => {
    await addSubscribers(db(), 200, ['America/New_York', 'America/Toronto', 'America/Detroit']);
    const tight = {
      ...settings,
      TWILIO_MESSAGES_PER_SECOND: 1,
      OPENAI_REQUESTS_PER_MIN: 2,
      TWILIO_MESSAGES_PER_DAY: 10_000,
    };
    const summary = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings: tight, random: seededRandom(5) },
      now,
    );
    expect(summary.planned).toBe(400); // 7 and 8 March
    const { rows } = await sql<{ perSecond: number; perMinute: number }>`
      SELECT (SELECT max(n) FROM (SELECT count(*) AS n FROM deliveries WHERE state = 'planned' GROUP BY date_trunc('second', planned_at)) s)::int AS "perSecond",
             (SELECT max(n) FROM (SELECT count(*) AS n FROM deliveries WHERE state = 'planned' GROUP BY date_trunc('minute', planned_at)) m)::int AS "perMinute"`.execute(
      db(),
    );
    expect(rows[0]).toEqual({ perSecond: 1, perMinute: 2 });
  });

  it('skips a subscriber with an invalid time zone, visibly, and plans the others', async () => {
    await addSubscribers(db(), 3, ['Europe/London']);
    await db()
      .insertInto('subscribers')
      .values({ phone: '+14155550000', status: 'active', time_zone: 'Mars/Olympus' })
      .execute();
    const summary = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings, random: seededRandom(6) },
      now,
    );
    expect(summary).toMatchObject({ skipped: { bad_timezone: 1 } });
    expect(summary.planned).toBeGreaterThanOrEqual(3);
    const bad = await db()
      .selectFrom('deliveries')
      .selectAll()
      .where('reason', '=', 'bad_timezone')
      .executeTakeFirstOrThrow();
    expect(bad).toMatchObject({
      state: 'skipped',
      time_zone: 'Mars/Olympus',
      local_date: '2026-03-07',
      planned_at: null,
    });
  });

  it('records a schedule error per delivery and the next run retries only those', async () => {
    await addSubscribers(db(), 5, ['Europe/London']);
    // Plan without scheduling first to learn the ids, then fail two of them.
    const first = fakeScheduler();
    const past = new Date(0);
    await planDay({ db: db(), scheduler: first, settings, random: seededRandom(7), deadline: past }, now);
    const ids = (await db().selectFrom('deliveries').select('id').execute()).map((r) => r.id);
    expect(first.requests).toHaveLength(0);

    const failing = fakeScheduler(new Set(ids.slice(0, 2)));
    const run1 = await planDay({ db: db(), scheduler: failing, settings }, now);
    expect(run1).toMatchObject({ planned: 0, scheduled: ids.length - 2, failed: 2 });
    const errored = await db()
      .selectFrom('deliveries')
      .selectAll()
      .where('schedule_error', 'is not', null)
      .execute();
    expect(errored.map((r) => r.id).sort()).toEqual(ids.slice(0, 2).sort());
    expect(
      errored.every(
        (r) => r.scheduled_at === null && r.schedule_error === 'ValidationException: role not assumable',
      ),
    ).toBe(true);

    const retry = fakeScheduler();
    const run2 = await planDay({ db: db(), scheduler: retry, settings }, now);
    expect(run2).toMatchObject({ scheduled: 2, failed: 0 });
    expect(retry.requests.map((r) => r.deliveryId).sort()).toEqual(ids.slice(0, 2).sort());
    const left = await db().selectFrom('deliveries').select('id').where('scheduled_at', 'is', null).execute();
    expect(left).toEqual([]);
  });

  it('stops creating schedules once the account’s schedule quota is full, and leaves the rest for a later run', async () => {
    // Prepare: 40 deliveries to schedule; EventBridge Scheduler refuses every CreateSchedule because the
    // account holds its "Number of schedules" quota already.
    await addSubscribers(db(), 20, ['Europe/London']);
    const sdk = mockClient(SchedulerClient);
    sdk.on(CreateScheduleCommand).rejects(
      new ServiceQuotaExceededException({
        message: 'You have exceeded the number of schedules',
        Message: 'You have exceeded the number of schedules',
        $metadata: {},
      }),
    );
    const scheduler = createEventBridgeScheduler({
      client: new SchedulerClient({ region: 'us-east-1' }),
      groupName: 'daily-positivity-dev',
      target: { arn: 'arn:sender', roleArn: 'arn:role', deadLetterArn: 'arn:dlq' },
      sleep: async () => {},
    });

    // Act
    const run = await planDay({ db: db(), scheduler, settings, scheduleConcurrency: 4 }, now);
    sdk.restore();

    // Assess: the calls already in flight when the quota was found full, and no more; every delivery is
    // still planned and unscheduled, counted as work left (PlannerWorkLeft pages when no run gets further).
    const calls = sdk.commandCalls(CreateScheduleCommand).length;
    expect(run.planned).toBeGreaterThan(4);
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(4);
    expect(run).toMatchObject({ scheduled: 0, failed: calls, remaining: run.planned - calls });
    const errors = await db().selectFrom('deliveries').select('schedule_error').execute();
    expect(errors.filter((r) => r.schedule_error !== null)).toHaveLength(calls);
    expect(errors.find((r) => r.schedule_error)?.schedule_error).toMatch(/^ScheduleQuotaExceeded: /);
  });

  it('reports the deliveries left when the deadline comes first, and resumes them next run', async () => {
    await addSubscribers(db(), 4, ['Asia/Kolkata']);
    const stopped = await planDay(
      { db: db(), scheduler: fakeScheduler(), settings, deadline: new Date(0) },
      now,
    );
    expect(stopped).toMatchObject({ status: 'completed', scheduled: 0, remaining: stopped.planned });
    const resumed = await planDay({ db: db(), scheduler: fakeScheduler(), settings }, now);
    expect(resumed).toMatchObject({ planned: 0, scheduled: stopped.planned, remaining: 0 });
  });

  it('never runs twice at once: a second run while one holds the lock does nothing and says so', async () => {
    await addSubscribers(db(), 6, ['Europe/London', 'Asia/Tokyo']);
    // The first run stops inside its schedule phase (lock held) until the gate opens.
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let entered: () => void = () => {};
    const inScheduling = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const slow = fakeScheduler();
    const blocking: DeliveryScheduler = {
      async schedule(r) {
        entered();
        await gate;
        return slow.schedule(r);
      },
      cancel: slow.cancel,
    };
    const first = planDay({ db: db(), scheduler: blocking, settings, random: seededRandom(11) }, now);
    await inScheduling;

    const duplicate = fakeScheduler();
    const second = await planDay({ db: db(), scheduler: duplicate, settings, random: seededRandom(12) }, now);
    expect(second).toEqual({
      status: 'another_run_in_progress',
      planned: 0,
      skipped: {},
      scheduled: 0,
      failed: 0,
      missed: 0,
      replanned: 0,
      remaining: 0,
    });
    expect(duplicate.requests).toEqual([]);

    open();
    const done = await first;
    expect(done.status).toBe('completed');
    expect(done.scheduled).toBe(done.planned);
    const rows = await db().selectFrom('deliveries').select('id').execute();
    expect(rows).toHaveLength(done.planned);
    // The lock was released: the next run goes ahead (and finds nothing to do).
    const third = await planDay({ db: db(), scheduler: fakeScheduler(), settings }, now);
    expect(third).toMatchObject({ status: 'completed', planned: 0, scheduled: 0 });
  });

  it('releases the lock when a run fails', async () => {
    await addSubscribers(db(), 2, ['Europe/London']);
    const broken = () => {
      throw new Error('random source failed');
    };
    await expect(
      planDay({ db: db(), scheduler: fakeScheduler(), settings, random: broken }, now),
    ).rejects.toThrow('random source failed');
    // Released, not just re-entered by the same pooled session: no advisory lock is held anywhere.
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (
        SELECT oid FROM pg_database WHERE datname = current_database())`.execute(db());
    expect(rows[0]?.n).toBe(0);
    const next = await planDay({ db: db(), scheduler: fakeScheduler(), settings }, now);
    expect(next).toMatchObject({ status: 'completed', planned: 4, scheduled: 4 }); // 7 and 8 March
  });

  it('moves a missed delivery to a later second of its open window and schedules it there', async () => {
    await addSubscribers(db(), 5, ['Europe/London']); // London is on UTC in March: window 12:00–17:00Z
    await planDay({ db: db(), scheduler: fakeScheduler(), settings, deadline: new Date(0) }, now);
    const rows = await db()
      .selectFrom('deliveries')
      .select(['id', 'subscriber_id'])
      .where('local_date', '=', '2026-03-07')
      .orderBy('id')
      .execute();
    expect(rows).toHaveLength(5);
    // Three were due at 12:30 and never got a schedule; two are due at 15:00.
    const [a, b, c, d, e] = rows.map((r) => r.id) as [string, string, string, string, string];
    await sql`
      UPDATE deliveries SET planned_at = v.at, schedule_error = 'ThrottlingException: gave up'
      FROM unnest(${[a, b, c, d, e]}::uuid[], ${[
        '2026-03-07T12:30:00Z',
        '2026-03-07T12:30:00Z',
        '2026-03-07T12:30:01Z',
        '2026-03-07T15:00:00Z',
        '2026-03-07T15:00:01Z',
      ]}::timestamptz[]) AS v(id, at)
      WHERE deliveries.id = v.id`.execute(db());

    const at1400 = new Date('2026-03-07T14:00:00Z');
    const scheduler = fakeScheduler();
    const run = await planDay({ db: db(), scheduler, settings, random: seededRandom(13) }, at1400);

    expect(run).toMatchObject({ status: 'completed', missed: 3, replanned: 3, failed: 0, skipped: {} });
    const today = await db()
      .selectFrom('deliveries')
      .selectAll()
      .where('local_date', '=', '2026-03-07')
      .orderBy('planned_at')
      .execute();
    expect(today).toHaveLength(5);
    for (const r of today) {
      expect(r.state).toBe('planned');
      expect(r.schedule_error).toBeNull();
      expect(r.scheduled_at).not.toBeNull();
      // 5 minutes of lead after the run, before the window closes; one per second (the cap is 1/s).
      expect(r.planned_at?.getTime()).toBeGreaterThanOrEqual(at1400.getTime() + 5 * 60_000);
      expect(r.planned_at?.getTime()).toBeLessThan(r.window_end.getTime());
    }
    expect(new Set(today.map((r) => r.planned_at?.getTime())).size).toBe(5);
    const moved = today.filter((r) => [a, b, c].includes(r.id));
    expect(moved.every((r) => (r.planned_at?.getTime() ?? 0) > at1400.getTime())).toBe(true);
    expect(today.find((r) => r.id === d)?.planned_at).toEqual(new Date('2026-03-07T15:00:00Z'));
    expect(scheduler.requests.filter((q) => [a, b, c].includes(q.deliveryId))).toHaveLength(3);
    // Tomorrow's windows (8 March) were planned by the first run and are scheduled by this one.
    expect(run.planned).toBe(0);
    expect(run.scheduled).toBe(10);
  });

  it('skips a missed delivery whose window has no time left, and leaves one the sender claimed', async () => {
    await addSubscribers(db(), 3, ['Europe/London']);
    await planDay({ db: db(), scheduler: fakeScheduler(), settings, deadline: new Date(0) }, now);
    const [a, b, c] = (
      await db()
        .selectFrom('deliveries')
        .select('id')
        .where('local_date', '=', '2026-03-07')
        .orderBy('id')
        .execute()
    ).map((r) => r.id) as [string, string, string];
    await sql`UPDATE deliveries SET planned_at = '2026-03-07T16:00:00Z'::timestamptz + (subscriber_id * interval '1 second')
      WHERE local_date = '2026-03-07'`.execute(db());
    await db()
      .updateTable('deliveries')
      .set({ state: 'sending', claimed_at: new Date('2026-03-07T16:00:03Z') })
      .where('id', '=', c)
      .execute();

    const late = new Date('2026-03-07T16:58:00Z'); // 2 minutes before the window closes
    const run = await planDay({ db: db(), scheduler: fakeScheduler(), settings }, late);

    expect(run).toMatchObject({ missed: 2, replanned: 0, skipped: { missed: 2 } });
    const today = await db()
      .selectFrom('deliveries')
      .select(['id', 'state', 'reason', 'scheduled_at'])
      .where('local_date', '=', '2026-03-07')
      .orderBy('id')
      .execute();
    expect(today).toEqual([
      { id: a, state: 'skipped', reason: 'missed', scheduled_at: null },
      { id: b, state: 'skipped', reason: 'missed', scheduled_at: null },
      { id: c, state: 'sending', reason: null, scheduled_at: null },
    ]);
    // A later run finds nothing missed any more.
    const again = await planDay({ db: db(), scheduler: fakeScheduler(), settings }, late);
    expect(again).toMatchObject({ missed: 0, replanned: 0, skipped: {} });
  });

  it('plans 10,000 subscribers across zones in one run, within every cap', async () => {
    const zones = [
      'America/New_York',
      'America/Los_Angeles',
      'Europe/London',
      'Europe/Berlin',
      'Asia/Kolkata',
      'Asia/Tokyo',
      'Australia/Lord_Howe',
      'Pacific/Kiritimati',
      'America/Sao_Paulo',
      'Africa/Lagos',
    ];
    await addSubscribers(db(), 10_000, zones);
    const roomy = {
      ...settings,
      TWILIO_MESSAGES_PER_SECOND: 3,
      OPENAI_REQUESTS_PER_MIN: 100,
      OPENAI_TOKENS_PER_MIN: 100_000,
      TWILIO_MESSAGES_PER_DAY: 30_000,
    };
    const scheduler = fakeScheduler();
    const summary = await planDay(
      { db: db(), scheduler, settings: roomy, random: seededRandom(8), pageSize: 2000 },
      now,
    );
    const { rows } = await sql<{
      subscribers: number;
      rows: number;
      perSecond: number;
      perMinute: number;
      outside: number;
    }>`
      SELECT count(DISTINCT subscriber_id)::int AS subscribers, count(*)::int AS rows,
        (SELECT max(n) FROM (SELECT count(*) AS n FROM deliveries GROUP BY date_trunc('second', planned_at)) s)::int AS "perSecond",
        (SELECT max(n) FROM (SELECT count(*) AS n FROM deliveries GROUP BY date_trunc('minute', planned_at)) m)::int AS "perMinute",
        count(*) FILTER (WHERE planned_at < window_start OR planned_at >= window_end)::int AS outside
      FROM deliveries WHERE state = 'planned'`.execute(db());
    expect(rows[0]).toMatchObject({ subscribers: 10_000, outside: 0 });
    expect(rows[0]?.perSecond).toBeLessThanOrEqual(3);
    expect(rows[0]?.perMinute).toBeLessThanOrEqual(100);
    expect(summary.planned).toBe(rows[0]?.rows);
    expect(summary.skipped).toEqual({});
    expect(new Set(scheduler.requests.map((r) => r.deliveryId)).size).toBe(summary.planned);
  }, 120_000);
});
