// An inbound SMS: stored once per MessageSid, classified, acted on (opt out / opt in / help), answered.
import type { Db } from '../db/connection.js';
import { recordConsentEvent } from '../db/repositories/consent.js';
import { insertInboundIfNew } from '../db/repositories/inbound.js';
import {
  findSubscriberByPhone,
  lockOrCreateSubscriber,
  updateSubscriber,
} from '../db/repositories/subscribers.js';
import type { Subscriber } from '../db/schema.js';
import { type InboundKind, matchInbound } from '../domain/inbound-keywords.js';
import { maskPhone } from '../domain/phone.js';
import { helpReply, optInConfirmation, optOutConfirmation, type ReplySettings } from '../domain/replies.js';
import { logger } from '../logger.js';
import { optOutSubscriber, removeSchedules } from './opt-out.js';
import type { Clock, DeliveryScheduler } from './ports.js';

export interface InboundSms {
  messageSid: string;
  from: string;
  to: string | null;
  body: string;
  /** Twilio's OptOutType parameter: present when Twilio's own keyword handling already acted and replied. */
  optOutType: string | null;
}

export interface InboundSettings extends ReplySettings {
  /** TWILIO_ADVANCED_OPT_OUT: Twilio answers its standard keywords itself, so we stay silent on them. */
  advancedOptOut: boolean;
  /** Time zone for numbers we first hear from by SMS. */
  defaultTimeZone: string;
}

export interface InboundDeps {
  db: Db;
  scheduler: DeliveryScheduler;
  clock: Clock;
  settings: InboundSettings;
}

export interface InboundResult {
  kind: InboundKind;
  /** True when this MessageSid was already handled: nothing changed and nothing is said. */
  duplicate: boolean;
  /** The SMS to answer with (TwiML <Message>), or null for empty TwiML. */
  reply: string | null;
}

/** Applies an opt-in: unknown → active, pending → active (double opt-in confirmed), opted_out → active. */
async function optIn(trx: Parameters<typeof optOutSubscriber>[0], sms: InboundSms, deps: InboundDeps) {
  const now = deps.clock.now();
  const { subscriber, created } = await lockOrCreateSubscriber(trx, {
    phone: sms.from,
    status: 'active',
    time_zone: deps.settings.defaultTimeZone,
    confirmed_at: now,
  });
  const ledger = {
    phone: sms.from,
    source: 'sms',
    trigger_text: sms.body,
    message_sid: sms.messageSid,
  } as const;
  if (created) {
    await recordConsentEvent(trx, { ...ledger, subscriber_id: subscriber.id, kind: 'opt_in' });
    return subscriber;
  }
  if (subscriber.status === 'active') return subscriber;
  const updated = await updateSubscriber(trx, subscriber.id, {
    status: 'active',
    confirmed_at: now,
    opted_out_at: null,
  });
  await recordConsentEvent(trx, {
    ...ledger,
    subscriber_id: subscriber.id,
    kind: subscriber.status === 'pending' ? 'confirm' : 'opt_in',
  });
  return updated;
}

export async function handleInboundSms(deps: InboundDeps, sms: InboundSms): Promise<InboundResult> {
  const { kind, keyword } = matchInbound(sms.body);
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const stored = await insertInboundIfNew(trx, {
      message_sid: sms.messageSid,
      from_phone: sms.from,
      to_phone: sms.to,
      body: sms.body,
      classification: kind,
    });
    if (!stored) return { duplicate: true, cancelled: [] as string[] };

    let subscriber: Subscriber | undefined;
    let cancelled: string[] = [];
    if (kind === 'opt_out') {
      const now = deps.clock.now();
      // Numbers we never knew are recorded too: the ledger proves we honoured the request.
      const locked = await lockOrCreateSubscriber(trx, {
        phone: sms.from,
        status: 'opted_out',
        opted_out_at: now,
        time_zone: deps.settings.defaultTimeZone,
      });
      if (locked.created) {
        await recordConsentEvent(trx, {
          subscriber_id: locked.subscriber.id,
          phone: sms.from,
          kind: 'opt_out',
          source: 'sms',
          trigger_text: sms.body,
          message_sid: sms.messageSid,
        });
        subscriber = locked.subscriber;
      } else {
        const out = await optOutSubscriber(trx, locked.subscriber, {
          source: 'sms',
          now,
          messageSid: sms.messageSid,
          triggerText: sms.body,
        });
        subscriber = out.subscriber;
        cancelled = out.cancelledDeliveryIds;
      }
    } else if (kind === 'opt_in') {
      subscriber = await optIn(trx, sms, deps);
    } else {
      subscriber = await findSubscriberByPhone(trx, sms.from);
    }
    if (subscriber) {
      await trx
        .updateTable('inbound_messages')
        .set({ subscriber_id: subscriber.id })
        .where('id', '=', stored.id)
        .execute();
    }
    return { duplicate: false, cancelled };
  });

  await removeSchedules(deps.scheduler, outcome.cancelled);
  logger.info('inbound sms', {
    from: maskPhone(sms.from),
    messageSid: sms.messageSid,
    kind,
    duplicate: outcome.duplicate,
    cancelledDeliveries: outcome.cancelled.length,
  });
  return {
    kind,
    duplicate: outcome.duplicate,
    reply: outcome.duplicate ? null : chooseReply(deps, sms, kind, keyword),
  };
}

function chooseReply(deps: InboundDeps, sms: InboundSms, kind: InboundKind, keyword: string | null) {
  // Twilio's keyword handling acted and replied already: a second reply would confuse the subscriber.
  if (sms.optOutType) return null;
  if (keyword && deps.settings.advancedOptOut) return null;
  switch (kind) {
    case 'opt_out':
      return optOutConfirmation(deps.settings);
    case 'opt_in':
      return optInConfirmation(deps.settings);
    case 'help':
      return helpReply(deps.settings);
    default:
      return null;
  }
}
