// Use case (one-machine demos and operators' test sends): send one subscriber's message for today right
// now, through the real sender. It never bypasses a rule: only active, unpaused subscribers; at most one delivery per
// subscriber per local day (a day that already had its delivery, sent or not, is refused).

import {
  insertDeliveryDueNow,
  lockDeliveryForDate,
  moveDeliveryToNow,
} from '../db/repositories/deliveries/send-now.js';
import { findSubscriberByPhone } from '../db/repositories/subscribers.js';
import { DeadlineReached } from '../db/request-deadline.js';
import type { E164 } from '../domain/phone.js';
import { InvalidTimeZone, localDateAt, sendWindowOn, type WindowMinutes } from '../domain/send-window.js';
import { logger } from '../logger.js';
import type { DeliveryScheduler, SendStarter } from './ports.js';
import { type SendDeps, type SendOutcome, sendDailyMessage } from './send-daily-message.js';
import { SubscriberNotFound } from './subscribers.js';

/** Send-now was refused; the message says why in words an operator can act on. */
export class SendNowRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SendNowRefused';
  }
}

export interface SendNowDeps {
  send: SendDeps;
  scheduler: DeliveryScheduler;
  window: WindowMinutes;
  /** Length of the demo window opened at now when now is outside the subscriber's send window. */
  demoWindowMinutes?: number;
  /**
   * Runs inside the reservation's transaction, just before it commits; throwing rolls it back (the API:
   * no time left to hand the send over, src/http/api-deadline.ts), so nothing has changed.
   */
  beforeCommit?: () => void;
}

export interface SendNowResult {
  deliveryId: string;
  localDate: string;
  /** True when now was outside the send window and a demo window starting now was used. */
  demoWindow: boolean;
  outcome: SendOutcome;
}

/** The sender skips a delivery whose window ends this soon; closer than this a demo window is used. */
const MIN_WINDOW_LEFT_MS = 60_000;

/** Today's delivery of one subscriber, due now: what a send-now hands to the sender. */
export interface ReservedSend {
  deliveryId: string;
  localDate: string;
  demoWindow: boolean;
  windowEnd: Date;
}

/**
 * Applies the rules and makes today's delivery due now: creates it, or moves the planned one to now (its
 * old timer or schedule is cancelled). Throws SubscriberNotFound or SendNowRefused.
 */
async function reserveSendNow(
  deps: Pick<SendNowDeps, 'scheduler' | 'window' | 'demoWindowMinutes' | 'beforeCommit'> & {
    send: Pick<SendDeps, 'db' | 'clock'>;
  },
  phone: E164,
): Promise<ReservedSend> {
  const { db, clock } = deps.send;
  const subscriber = await findSubscriberByPhone(db, phone);
  if (!subscriber) throw new SubscriberNotFound();
  if (subscriber.status === 'opted_out')
    throw new SendNowRefused('this subscriber has opted out (STOP); nothing is sent');
  if (subscriber.status === 'pending')
    throw new SendNowRefused('this subscriber has not confirmed yet: they must text YES first');
  if (subscriber.paused) throw new SendNowRefused('this subscriber is paused; unpause them first');

  const now = clock.now();
  let localDate: string;
  let window: { start: Date; end: Date };
  try {
    localDate = localDateAt(subscriber.time_zone, now);
    window = sendWindowOn(subscriber.time_zone, localDate, deps.window);
  } catch (error) {
    if (error instanceof InvalidTimeZone)
      throw new SendNowRefused(`the stored time zone ${JSON.stringify(subscriber.time_zone)} is not valid`);
    throw error;
  }
  const inWindow =
    now.getTime() >= window.start.getTime() && now.getTime() < window.end.getTime() - MIN_WINDOW_LEFT_MS;
  const demoWindow = !inWindow;
  if (demoWindow)
    window = { start: now, end: new Date(now.getTime() + (deps.demoWindowMinutes ?? 60) * 60_000) };
  const due = {
    subscriberId: subscriber.id,
    localDate,
    timeZone: subscriber.time_zone,
    windowStart: window.start,
    windowEnd: window.end,
    now,
  };

  const { deliveryId, wasPlanned } = await db.transaction().execute(async (trx) => {
    const existing = await lockDeliveryForDate(trx, subscriber.id, localDate);
    if (!existing) {
      const id = await insertDeliveryDueNow(trx, due);
      if (!id) throw new SendNowRefused(`today's delivery (${localDate}) was just created by another run`);
      deps.beforeCommit?.();
      return { deliveryId: id, wasPlanned: false };
    }
    if (existing.state !== 'planned' || !(await moveDeliveryToNow(trx, existing.id, due))) {
      const why = existing.reason ? `${existing.state}: ${existing.reason}` : existing.state;
      throw new SendNowRefused(
        `today's delivery (${localDate}) is already ${why}; one message per subscriber per day`,
      );
    }
    // Past this point the planned schedule is removed: the hand-over must follow, or the day is lost.
    deps.beforeCommit?.();
    return { deliveryId: existing.id, wasPlanned: true };
  });
  // The timer armed for the planned time is no longer needed; the claim makes it harmless if it stays, so a
  // delete that fails does not stop the send.
  if (wasPlanned) {
    try {
      await deps.scheduler.cancel(deliveryId);
    } catch (error) {
      logger.warn('could not remove the planned schedule of a delivery sent now; it will find it claimed', {
        deliveryId,
        error,
      });
    }
  }
  return { deliveryId, localDate, demoWindow, windowEnd: window.end };
}

/** Sends today's message now, in this process, and returns the sender's outcome (CLI, dev page). */
export async function sendNow(deps: SendNowDeps, phone: E164): Promise<SendNowResult> {
  const { deliveryId, localDate, demoWindow } = await reserveSendNow(deps, phone);
  const outcome = await sendDailyMessage(deps.send, deliveryId);
  return { deliveryId, localDate, demoWindow, outcome };
}

/**
 * Hands today's message to the sender and returns without waiting (the operator API): the sender Lambda in
 * AWS, the in-process scheduler locally. The delivery's state tells how it ended.
 */
export async function startSendNow(
  deps: Pick<SendNowDeps, 'scheduler' | 'window' | 'demoWindowMinutes' | 'beforeCommit'> & {
    send: Pick<SendDeps, 'db' | 'clock'>;
    starter: SendStarter;
  },
  phone: E164,
): Promise<ReservedSend> {
  const reserved = await reserveSendNow(deps, phone);
  try {
    await deps.starter.start({ deliveryId: reserved.deliveryId, windowEnd: reserved.windowEnd });
  } catch (error) {
    // Not started for want of time: the caller says so (the request's deadline, src/http/api-deadline.ts).
    if (error instanceof DeadlineReached) throw error;
    // The delivery stays planned and due now: trying again hands it over again.
    logger.error('could not start the sender for a send-now', { deliveryId: reserved.deliveryId, error });
    throw new SendNotStarted();
  }
  return reserved;
}

/** The sender could not be reached; nothing was sent and the same send-now may be tried again. */
export class SendNotStarted extends Error {
  constructor() {
    super('the sender could not be started; nothing was sent, try again');
    this.name = 'SendNotStarted';
  }
}
