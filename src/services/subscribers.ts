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
  deleteUninvitedSignUp,
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
import { type Clock, type DeliveryScheduler, SmsOutcomeUnknown, type SmsSender } from './ports.js';

export class SubscriberNotFound extends Error {
  constructor() {
    super('no subscriber has this phone number');
    this.name = 'SubscriberNotFound';
  }
}

/**
 * A sign-up stopped between saving and texting, when what it leaves behind is not "nothing": the message
 * says, in words for the operator, what was saved and what was sent. `retryable`: repeating it is safe and
 * useful (nothing was saved, nothing sent); otherwise a repeat answers 409.
 */
export class SignUpIncomplete extends Error {
  constructor(
    message: string,
    readonly status: 502 | 503,
    readonly retryable: boolean,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'SignUpIncomplete';
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
 * Creates a pending subscriber and texts the double opt-in request. The row and its consent-ledger entry are
 * committed before the text, so every invitation has its record of why the number was texted, and a number
 * that already has a row is never texted again (a repeated request is a conflict): one invitation per
 * sign-up. A text that surely did not go out (Twilio refused it, there was no time for it) undoes the
 * sign-up, so a refusal leaves nothing saved; one Twilio may have taken (its answer lost) keeps it.
 * `beforeCommit` runs just before the COMMIT: throwing rolls the sign-up back (the API: no time left for
 * the COMMIT and the text, src/http/api-deadline.ts).
 */
export async function createSubscriber(
  deps: SubscriberDeps & SignUpUndo & { beforeCommit?: () => void },
  input: NewSubscriberInput,
): Promise<SubscriberView> {
  const signUp = await saveSignUp(deps, input);
  let receipt: { sid: string };
  try {
    receipt = await deps.sms.send({
      to: input.phone,
      body: doubleOptInRequest(deps.settings),
      statusCallback: deps.settings.statusCallbackUrl,
    });
  } catch (error) {
    if (error instanceof SmsOutcomeUnknown) {
      logger.warn('double opt-in text outcome unknown; the sign-up stays pending', {
        phone: maskPhone(input.phone),
        error,
      });
      throw new SignUpIncomplete(
        'Twilio did not say whether it took the opt-in text: it may have been sent, so the subscriber is saved as pending with the consent recorded; do not add the number again (they confirm with YES)',
        502,
        false,
        { cause: error },
      );
    }
    await undoSignUp(deps.undoDb ?? deps.db, signUp, 'the opt-in text was not sent', error);
    throw error;
  }
  logger.info('double opt-in requested', { phone: maskPhone(input.phone), messageSid: receipt.sid });
  return toView(signUp.subscriber);
}

interface SavedSignUp {
  subscriber: Subscriber;
  consentEventId: number;
}

/**
 * The pending row and its ledger entry, committed. A COMMIT that fails may still have been made (its
 * answer lost): the sign-up is then undone, so it is surely not saved, and the operator can repeat it.
 */
async function saveSignUp(
  deps: Pick<SubscriberDeps, 'db' | 'settings' | 'consentSource'> &
    SignUpUndo & { beforeCommit?: () => void },
  input: NewSubscriberInput,
): Promise<SavedSignUp> {
  let committing: SavedSignUp | undefined;
  try {
    return await deps.db.transaction().execute(async (trx) => {
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
      const event = await recordConsentEvent(trx, {
        subscriber_id: created.id,
        phone: created.phone,
        kind: 'opt_in',
        source: deps.consentSource ?? 'api',
        trigger_text: null,
        message_sid: null,
      });
      deps.beforeCommit?.();
      committing = { subscriber: created, consentEventId: event.id };
      return committing;
    });
  } catch (error) {
    if (!committing) throw error;
    await undoSignUp(
      deps.undoDb ?? deps.db,
      committing,
      'the database failed while saving the sign-up and no text was sent',
      error,
    );
    throw new SignUpIncomplete(
      'the database failed while saving the sign-up: nothing was saved and no text was sent; try again in a few seconds',
      503,
      true,
      { cause: error },
    );
  }
}

/**
 * Where a sign-up is undone when `db` keeps to a request's deadline (the operator API's dbWithDeadline): the
 * same pool without the deadline, since the undo runs whatever the time is left, like a ROLLBACK.
 */
interface SignUpUndo {
  undoDb?: Db;
}

/**
 * Removes a sign-up whose text did not go out (`why`, for the operator). It runs whatever the request's
 * deadline (like a ROLLBACK) on the pool's own bounds. If it fails too, the row stays pending without an
 * invitation until the daily cleanup removes it (PENDING_EXPIRY_DAYS): SignUpIncomplete says so.
 */
async function undoSignUp(db: Db, signUp: SavedSignUp, why: string, failure: unknown): Promise<void> {
  try {
    await deleteUninvitedSignUp(db, {
      subscriberId: signUp.subscriber.id,
      consentEventId: signUp.consentEventId,
    });
  } catch (undoError) {
    logger.error(
      'could not undo a sign-up whose opt-in text was not sent; it stays pending until it expires',
      {
        phone: maskPhone(signUp.subscriber.phone),
        failure,
        error: undoError,
      },
    );
    throw new SignUpIncomplete(
      `${why}, and the sign-up could not be undone: the number may stay pending without an invitation, and adding it again answers 409, until the daily cleanup removes unanswered sign-ups (PENDING_EXPIRY_DAYS)`,
      503,
      false,
      { cause: undoError },
    );
  }
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
