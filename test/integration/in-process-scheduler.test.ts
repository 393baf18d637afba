// The local scheduler: fires a due delivery once, re-arms from the table after a restart, and cancel
// clears the timer.
import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessScheduler, type InProcessScheduler } from '../../src/local/in-process-scheduler.js';
import { useTestDb } from '../support/db.js';

const { db } = useTestDb();
const started: InProcessScheduler[] = [];
afterEach(() => {
  for (const s of started.splice(0)) s.stop();
});

let phoneCounter = 0;
async function plannedDelivery(inMs: number) {
  const now = Date.now();
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
  const onDue = async (id: string) => {
    calls.push(id);
    await db()
      .updateTable('deliveries')
      .set({ state: 'sending', claimed_at: new Date() })
      .where('id', '=', id)
      .where('state', '=', 'planned')
      .execute();
  };
  return { calls, onDue };
}

function scheduler(onDue: (id: string) => Promise<unknown>) {
  const s = createInProcessScheduler({ db: db(), onDue, pollMs: 50, lookaheadMs: 60_000 });
  started.push(s);
  return s;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('in-process scheduler', () => {
  it('fires a delivery once at its time, even with polls re-reading the table', async () => {
    const d = await plannedDelivery(300);
    const { calls, onDue } = sender();
    const s = scheduler(onDue);
    await s.start();
    expect(s.armed()).toEqual([d.id]);
    await s.schedule({ deliveryId: d.id, at: d.planned_at as Date, windowEnd: d.window_end });
    await wait(150);
    expect(calls).toEqual([]);
    await wait(600);
    expect(calls).toEqual([d.id]);
  });

  it('re-arms from the table after a restart, without repeating what was already sent', async () => {
    const early = await plannedDelivery(100);
    const late = await plannedDelivery(700);
    const { calls, onDue } = sender();
    const first = scheduler(onDue);
    await first.start();
    await wait(350);
    first.stop(); // the process dies before `late` is due
    expect(calls).toEqual([early.id]);

    const second = scheduler(onDue);
    await second.start();
    expect(second.armed()).toEqual([late.id]);
    await wait(700);
    expect(calls).toEqual([early.id, late.id]);
  });

  it('fires an overdue delivery whose window is still open at start', async () => {
    const d = await plannedDelivery(-5_000);
    const { calls, onDue } = sender();
    await scheduler(onDue).start();
    await wait(200);
    expect(calls).toEqual([d.id]);
  });

  it('cancel clears the timer and a later poll does not bring it back', async () => {
    const d = await plannedDelivery(250);
    const { calls, onDue } = sender();
    const s = scheduler(onDue);
    await s.start();
    await s.cancel(d.id);
    expect(s.armed()).toEqual([]);
    await wait(600);
    expect(calls).toEqual([]);
  });

  it('schedule after cancel arms the delivery again (a test send moves a planned delivery to now)', async () => {
    // Prepare: a planned delivery whose timer a send-now cancels before moving it to now.
    const d = await plannedDelivery(30_000);
    const { calls, onDue } = sender();
    const s = scheduler(onDue);
    await s.start();
    await s.cancel(d.id);

    // Act: the send-now hands it back to the scheduler, due now.
    await s.schedule({ deliveryId: d.id, at: new Date(), windowEnd: d.window_end });
    await wait(200);

    // Assess: sent once, and not re-armed by later polls.
    expect(calls).toEqual([d.id]);
    await wait(200);
    expect(calls).toEqual([d.id]);
  });
});
