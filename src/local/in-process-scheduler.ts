// One-machine stand-in for EventBridge Scheduler: timers armed from the deliveries table. The table is the
// only state, so a restart re-reads it and re-arms every planned delivery still due (overdue ones with an
// open window fire at once); what the sender has already claimed is no longer 'planned' and is not re-armed.

import type { Db } from '../db/connection.js';
import { dueDeliveries } from '../db/repositories/deliveries/planning.js';
import { logger } from '../logger.js';
import type { Clock, DeliveryScheduler, ScheduleRequest } from '../services/ports.js';
import { systemClock } from '../services/ports.js';

export interface InProcessSchedulerOptions {
  db: Db;
  /** Called once per due delivery (the sender service). Its atomic claim makes a repeat harmless. */
  onDue: (deliveryId: string) => Promise<unknown>;
  clock?: Clock;
  /** Timers are armed for deliveries due within this many ms (default 10 minutes). */
  lookaheadMs?: number;
  /** How often the table is re-read for newly due deliveries (default 1 minute). */
  pollMs?: number;
}

export interface InProcessScheduler extends DeliveryScheduler {
  /** Reads the table and arms timers; then re-reads it every pollMs. */
  start(): Promise<void>;
  stop(): void;
  /** Delivery ids with a timer armed (for the dev page and tests). */
  armed(): string[];
}

export function createInProcessScheduler(options: InProcessSchedulerOptions): InProcessScheduler {
  const clock = options.clock ?? systemClock;
  const lookahead = options.lookaheadMs ?? 10 * 60_000;
  const timers = new Map<string, NodeJS.Timeout>();
  // Fired in this process: not re-armed by a later poll even if the sender has not changed its state yet.
  const fired = new Set<string>();
  let poller: NodeJS.Timeout | undefined;
  let running = false;

  function arm(deliveryId: string, at: Date) {
    // A poll that was reading the table when stop() ran must not arm timers after it: they would send on
    // a pool being closed (and, after a restart in the same process, send twice).
    if (!running || timers.has(deliveryId) || fired.has(deliveryId)) return;
    const delay = Math.max(0, at.getTime() - clock.now().getTime());
    const timer = setTimeout(() => {
      timers.delete(deliveryId);
      fired.add(deliveryId);
      options.onDue(deliveryId).catch((error: unknown) => {
        logger.error('in-process schedule: sending failed', { deliveryId, error });
      });
    }, delay);
    timer.unref?.();
    timers.set(deliveryId, timer);
  }

  async function poll() {
    const now = clock.now();
    const due = await dueDeliveries(options.db, now, new Date(now.getTime() + lookahead));
    for (const d of due) arm(d.id, d.plannedAt);
  }

  return {
    async schedule(request: ScheduleRequest): Promise<string> {
      // An explicit request wins over an earlier cancel or firing (a send-now cancels the planned timer,
      // then hands the same delivery over due now); the sender's claim makes a repeat harmless.
      fired.delete(request.deliveryId);
      // Far-off deliveries are armed by a later poll; the table already holds them.
      if (running && request.at.getTime() - clock.now().getTime() <= lookahead)
        arm(request.deliveryId, request.at);
      return `local-${request.deliveryId}`;
    },

    async cancel(deliveryId: string): Promise<void> {
      const timer = timers.get(deliveryId);
      if (timer) clearTimeout(timer);
      timers.delete(deliveryId);
      // A cancelled delivery must not come back on the next poll while its row is still being updated.
      fired.add(deliveryId);
    },

    async start(): Promise<void> {
      running = true;
      await poll();
      poller = setInterval(() => {
        poll().catch((error: unknown) => logger.error('in-process schedule: poll failed', { error }));
      }, options.pollMs ?? 60_000);
      poller.unref?.();
    },

    stop(): void {
      running = false;
      if (poller) clearInterval(poller);
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },

    armed: () => [...timers.keys()],
  };
}
