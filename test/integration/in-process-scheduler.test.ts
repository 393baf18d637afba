// The local scheduler: fires a due delivery once, re-arms from the table after a restart, and cancel
// clears the timer (also when a time zone change cancels the delivery). Its timers run on fake time and its clock is set by the test: waits measured on a
// loaded machine's wall clock made these checks race (a start slower than 300 ms fired a delivery before
// "not yet" was checked). Polls still read the real table; a test waits for one to finish, not for a while.
import type { KyselyPlugin } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sendWindow } from '../../src/config.js';
import type { E164 } from '../../src/domain/phone.js';
import type { TimeZone } from '../../src/domain/time-zone.js';
import { createInProcessScheduler, type InProcessScheduler } from '../../src/local/in-process-scheduler.js';
import { patchSubscriber } from '../../src/services/subscribers.js';
import { useTestDb } from '../support/db.js';
import { PLANNER_TEST_SETTINGS } from '../support/planner-settings.js';

const { db } = useTestDb();
const started: InProcessScheduler[] = [];
const POLL_MS = 50;
let now = 0;
const clock = { now: () => new Date(now) };
let polls = 0;
/** Counts the scheduler's reads of the table (its only queries): "a poll has finished" without a sleep. */
const countPolls: KyselyPlugin = {
  transformQuery: (args) => args.node,
  transformResult: async (args) => {
    polls++;
    return args.result;
  },
};

beforeEach(() => {
  now = Date.parse('2026-03-08T12:00:00Z');
  polls = 0;
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
});
afterEach(() => {
  for (const s of started.splice(0)) s.stop();
  vi.useRealTimers();
});

/** Moves the scheduler's clock and its timers on together. */
async function advance(ms: number) {
  now += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

/** Lets the next poll happen and waits (on real I/O, bounded) until it has read the table. */
async function nextPoll() {
  const before = polls;
  await advance(POLL_MS);
  const deadline = performance.now() + 10_000;
  while (polls === before) {
    if (performance.now() > deadline) throw new Error('no poll finished within 10 s');
    await new Promise((r) => setImmediate(r));
  }
}

let phoneCounter = 0;
async function plannedDelivery(inMs: number) {
  const s = await db()
    .insertInto('subscribers')
    .values({
      phone: `+1415555${String(++phoneCounter).padStart(4, '0')}`,
      time_zone: 'UTC',
      status: 'active',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return db()
    .insertInto('deliveries')
    .values({
      subscriber_id: s.id,
      local_date: '2026-03-08',
      time_zone: 'UTC',
      window_start: new Date(now - 60_000),
      window_end: new Date(now + 3_600_000),
      planned_at: new Date(now + inMs),
    })
    .returning(['id', 'planned_at', 'window_end'])
    .executeTakeFirstOrThrow();
}

/** onDue that behaves like the sender's claim: planned → sending, once. */
function sender() {
  const calls: string[] = [];
  const claims: Promise<unknown>[] = [];
  const onDue = async (id: string) => {
    calls.push(id);
    const claim = db()
      .updateTable('deliveries')
      .set({ state: 'sending', claimed_at: new Date() })
      .where('id', '=', id)
      .where('state', '=', 'planned')
      .execute();
    claims.push(claim);
    await claim;
  };
  /** Every claim made so far, written. */
  const claimed = () => Promise.all(claims);
  return { calls, onDue, claimed };
}

function scheduler(onDue: (id: string) => Promise<unknown>) {
  const s = createInProcessScheduler({
    db: db().withPlugin(countPolls),
    onDue,
    clock,
    pollMs: POLL_MS,
    lookaheadMs: 60_000,
  });
  started.push(s);
  return s;
}

describe('in-process scheduler', () => {
  it('fires a delivery once at its time, even with polls re-reading the table', async () => {
    const d = await plannedDelivery(300);
    const { calls, onDue, claimed } = sender();
    const s = scheduler(onDue);
    await s.start();
    expect(s.armed()).toEqual([d.id]);
    await s.schedule({ deliveryId: d.id, at: d.planned_at as Date, windowEnd: d.window_end });
    await advance(299);
    expect(calls).toEqual([]);
    await advance(1);
    expect(calls).toEqual([d.id]);
    await claimed();
    await nextPoll();
    await nextPoll();
    expect(calls).toEqual([d.id]);
  });

  it('re-arms from the table after a restart, without repeating what was already sent', async () => {
    const early = await plannedDelivery(100);
    const late = await plannedDelivery(700);
    const { calls, onDue, claimed } = sender();
    const first = scheduler(onDue);
    await first.start();
    await advance(350);
    await claimed();
    first.stop(); // the process dies before `late` is due
    expect(calls).toEqual([early.id]);

    const second = scheduler(onDue);
    await second.start();
    expect(second.armed()).toEqual([late.id]);
    await advance(350);
    expect(calls).toEqual([early.id, late.id]);
  });

  it('fires an overdue delivery whose window is still open at start', async () => {
    const d = await plannedDelivery(-5_000);
    const { calls, onDue } = sender();
    await scheduler(onDue).start();
    await advance(0);
    expect(calls).toEqual([d.id]);
  });

  it('cancel clears the timer and a later poll does not bring it back', async () => {
    const d = await plannedDelivery(250);
    const { calls, onDue } = sender();
    const s = scheduler(onDue);
    await s.start();
    await s.cancel(d.id);
    expect(s.armed()).toEqual([]);
    for (let i = 0; i < 6; i++) await nextPoll(); // past the planned time, the row still 'planned'
    expect(s.armed()).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('a time zone change disarms the planned delivery, and no poll or restart brings it back', async () => {
    // Prepare: a delivery due in 250 ms, armed.
    const d = await plannedDelivery(250);
    const { phone } = await db().selectFrom('subscribers').select('phone').executeTakeFirstOrThrow();
    const { calls, onDue } = sender();
    const s = scheduler(onDue);
    await s.start();
    expect(s.armed()).toEqual([d.id]);

    // Act: the subscriber moves (patchSubscriber with this scheduler, as the local server wires it).
    await patchSubscriber(
      { db: db(), scheduler: s, window: sendWindow(PLANNER_TEST_SETTINGS) },
      phone as E164,
      {
        timeZone: 'Asia/Tokyo' as TimeZone,
      },
    );

    // Assess: disarmed, cancelled in the table, and neither later polls nor a restarted scheduler send it.
    expect(s.armed()).toEqual([]);
    for (let i = 0; i < 6; i++) await nextPoll();
    s.stop();
    const restarted = scheduler(onDue);
    await restarted.start();
    expect(restarted.armed()).toEqual([]);
    expect(calls).toEqual([]);
    expect(await db().selectFrom('deliveries').select(['state', 'reason']).execute()).toEqual([
      { state: 'cancelled', reason: 'time_zone_changed' },
    ]);
  });

  it('schedule after cancel arms the delivery again (a test send moves a planned delivery to now)', async () => {
    // Prepare: a planned delivery whose timer a send-now cancels before moving it to now.
    const d = await plannedDelivery(30_000);
    const { calls, onDue, claimed } = sender();
    const s = scheduler(onDue);
    await s.start();
    await s.cancel(d.id);

    // Act: the send-now hands it back to the scheduler, due now.
    await s.schedule({ deliveryId: d.id, at: clock.now(), windowEnd: d.window_end });
    await advance(0);

    // Assess: sent once, and not re-armed by later polls.
    expect(calls).toEqual([d.id]);
    await claimed();
    await nextPoll();
    await nextPoll();
    expect(calls).toEqual([d.id]);
  });
});
