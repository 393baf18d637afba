// The subscriber config API's use cases: sign up (pending + double opt-in SMS), read, change time zone /
// name / pause, and remove (opt out, erase the name, keep the consent ledger).
import type { Db, DbOrTrx } from '../db/connection.js';
import { recordConsentEvent } from '../db/repositories/consent.js';
import {
  cancelDeliveries,
  cancelPlannedDeliveries,
  lockPlannedDeliveries,
  restampDeliveries,
} from '../db/repositories/deliveries/callbacks.js';
import { clearSubscriberBodies } from '../db/repositories/retention.js';
import {
  findSubscriberByPhone,
  insertSubscriberIfNew,
  updateSubscriber,
} from '../db/repositories/subscribers.js';
import type { Subscriber } from '../db/schema.js';
import { type E164, maskPhone } from '../domain/phone.js';
import { doubleOptInRequest, type ReplySettings } from '../domain/replies.js';
import type { WindowMinutes } from '../domain/send-window.js';
import type { SubscriberStatus } from '../domain/subscriber.js';
import type { TimeZone } from '../domain/time-zone.js';
import { sortByZoneChange } from '../domain/zone-change.js';
import { logger } from '../logger.js';
import { optOutSubscriber, removeSchedules } from './opt-out.js';
import type { Clock, DeliveryScheduler, SmsSender } from './ports.js';

export class SubscriberNotFound extends Error {
  constructor() {
    super('no subscriber has this phone number');
    this.name = 'SubscriberNotFound';
  }
}

/** The request conflicts with the subscriber's current state (already exists, has opted out, …). */
export class SubscriberConflict extends Error {
  constructor(
    message: string,
    readonly status: SubscriberStatus,
  ) {
    super(message);
    this.name = 'SubscriberConflict';
  }
}

export interface SubscriberView {
  phone: string;
  status: SubscriberStatus;
  paused: boolean;
  timeZone: string;
  name: string | null;
  confirmedAt: string | null;
  optedOutAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toView(s: Subscriber): SubscriberView {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    phone: s.phone,
    status: s.status,
    paused: s.paused,
    timeZone: s.time_zone,
    name: s.name,
    confirmedAt: iso(s.confirmed_at),
    optedOutAt: iso(s.opted_out_at),
    createdAt: new Date(s.created_at).toISOString(),
    updatedAt: new Date(s.updated_at).toISOString(),
  };
}

export interface SubscriberDeps {
  db: Db;
  sms: SmsSender;
  scheduler: DeliveryScheduler;
  clock: Clock;
  settings: ReplySettings & { defaultTimeZone: string; statusCallbackUrl: string };
  /**
   * The local send window the planner plans in (SEND_WINDOW_START/END): a zone change keeps the deliveries
   * that fit it; the API's send-now applies its rules.
   */
  window: WindowMinutes;
  /** Who is acting, for the consent ledger: the API (default) or an operator (CLI, dev page). */
  consentSource?: 'api' | 'operator';
}

/** Checked input: build it with the schemas in domain/subscriber-fields.ts. */
export interface NewSubscriberInput {
  phone: E164;
  timeZone?: TimeZone;
  name?: string | null;
}

/**
 * Creates a pending subscriber and texts the double opt-in request. The SMS is sent inside the
 * transaction: if Twilio refuses it, nothing is written and the caller can try again.
 */
export async function createSubscriber(
  deps: SubscriberDeps,
  input: NewSubscriberInput,
): Promise<SubscriberView> {
  const subscriber = await deps.db.transaction().execute(async (trx) => {
    const created = await insertSubscriberIfNew(trx, {
      phone: input.phone,
      status: 'pending',
      time_zone: input.timeZone ?? deps.settings.defaultTimeZone,
      name: input.name ?? null,
    });
    if (!created) {
      const existing = await findSubscriberByPhone(trx, input.phone);
      const status = existing?.status ?? 'pending';
      throw new SubscriberConflict(
        status === 'opted_out'
          ? 'this number has opted out; only the subscriber can rejoin, by texting START'
          : `a subscriber with this phone already exists (status ${status})`,
        status,
      );
    }
    await recordConsentEvent(trx, {
      subscriber_id: created.id,
      phone: created.phone,
      kind: 'opt_in',
      source: deps.consentSource ?? 'api',
      trigger_text: null,
      message_sid: null,
    });
    const receipt = await deps.sms.send({
      to: input.phone,
      body: doubleOptInRequest(deps.settings),
      statusCallback: deps.settings.statusCallbackUrl,
    });
    logger.info('double opt-in requested', { phone: maskPhone(input.phone), messageSid: receipt.sid });
    return created;
  });
  return toView(subscriber);
}

export interface SubscriberPatch {
  timeZone?: TimeZone;
  name?: string | null;
  paused?: boolean;
}

/**
 * Changes time zone, name or pause. Pausing cancels the planned deliveries. A new time zone keeps each
 * planned delivery whose instant is inside the new zone's window on the same local date, stamped with that
 * zone and window, and cancels the others (a London → Dublin move loses no day; Tokyo → New York would send
 * at night, so its days already planned are lost). A delivery the sender has claimed is left to finish in
 * its window.
 */
export async function patchSubscriber(
  deps: Pick<SubscriberDeps, 'db' | 'scheduler' | 'window'>,
  phone: E164,
  patch: SubscriberPatch,
): Promise<SubscriberView> {
  const { subscriber, cancelled } = await deps.db.transaction().execute(async (trx) => {
    const current = await findSubscriberByPhone(trx, phone, { lock: true });
    if (!current) throw new SubscriberNotFound();
    if (current.status === 'opted_out') {
      throw new SubscriberConflict(
        'this subscriber has opted out; their settings can no longer change',
        'opted_out',
      );
    }
    const updated = await updateSubscriber(trx, current.id, {
      ...(patch.timeZone !== undefined ? { time_zone: patch.timeZone } : {}),
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.paused !== undefined ? { paused: patch.paused } : {}),
    });
    return { subscriber: updated, cancelled: await settlePlanned(trx, current, patch, deps.window) };
  });
  await removeSchedules(deps.scheduler, cancelled);
  return toView(subscriber);
}

/** What the patch does to the subscriber's planned deliveries; returns the ids it cancelled. */
async function settlePlanned(
  trx: DbOrTrx,
  current: Subscriber,
  patch: SubscriberPatch,
  window: WindowMinutes,
): Promise<string[]> {
  if (patch.paused === true && !current.paused) return cancelPlannedDeliveries(trx, current.id, 'paused');
  if (patch.timeZone === undefined || patch.timeZone === current.time_zone) return [];
  const planned = await lockPlannedDeliveries(trx, current.id);
  const { keep, cancel } = sortByZoneChange(planned, patch.timeZone, window);
  await restampDeliveries(
    trx,
    keep.map((k) => ({ id: k.delivery.id, ...k.window })),
  );
  const cancelled = await cancelDeliveries(
    trx,
    cancel.map((d) => d.id),
    'time_zone_changed',
  );
  logger.info('time zone changed', {
    phone: maskPhone(current.phone),
    kept: keep.length,
    cancelled: cancelled.length,
  });
  return cancelled;
}

/**
 * DELETE: opts the subscriber out and erases the name, also from the texts we sent them (they greet by
 * it); the row and the consent ledger stay as proof.
 */
export async function removeSubscriber(
  deps: Pick<SubscriberDeps, 'db' | 'scheduler' | 'clock' | 'consentSource'>,
  phone: E164,
): Promise<SubscriberView> {
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const current = await findSubscriberByPhone(trx, phone);
    if (!current) throw new SubscriberNotFound();
    const out = await optOutSubscriber(trx, current.id, {
      source: deps.consentSource ?? 'api',
      now: deps.clock.now(),
      eraseName: true,
    });
    await clearSubscriberBodies(trx, current.id);
    const subscriber = await findSubscriberByPhone(trx, phone);
    if (!subscriber) throw new SubscriberNotFound();
    return { ...out, subscriber };
  });
  await removeSchedules(deps.scheduler, outcome.cancelledDeliveryIds);
  return toView(outcome.subscriber);
}
