// An inbound SMS: classified here, then stored once per MessageSid and acted on (opt out / opt in / help) in
// one SQL function call (receive_inbound_sms), answered with at most one reply. While the database is
// unreachable the call is retried inside the request; if it still fails, the validated text is kept in the
// webhook spool (SQS in AWS, a directory locally) and applied when the database is back (src/services/webhook-spool.ts).
// Each request makes one reply token and sends it with every attempt (and keeps it with the text), so a
// retry whose earlier attempt committed, unheard, still answers: the reply is owed by that request alone.
import { randomUUID } from 'node:crypto';
import { type Db, isDbUnavailable } from '../db/connection.js';
import { receiveInboundSms } from '../db/repositories/inbound.js';
import { type InboundKind, matchInbound } from '../domain/inbound-keywords.js';
import { maskPhone } from '../domain/phone.js';
import { helpReply, optInConfirmation, optOutConfirmation, type ReplySettings } from '../domain/replies.js';
import { logger } from '../logger.js';
import { type DbRetryPolicy, withDbRetry } from './db-retry.js';
import { removeSchedules } from './opt-out.js';
import type { Clock, DeliveryScheduler, KeptWebhook, WebhookSpool } from './ports.js';

export interface InboundSms {
  messageSid: string;
  from: string;
  to: string | null;
  body: string;
  /** Twilio's OptOutType parameter: present when Twilio's own keyword handling already acted and replied. */
  optOutType: string | null;
}

interface InboundSettings extends ReplySettings {
  /** TWILIO_ADVANCED_OPT_OUT: Twilio answers its standard keywords itself, so we stay silent on them. */
  advancedOptOut: boolean;
  /** Time zone for numbers we first hear from by SMS. */
  defaultTimeZone: string;
  /** RATE_LIMIT_INBOUND_PER_MIN: texts one number may send a minute (opt-outs are never refused). */
  perSenderPerMinute?: number | null;
}

export interface InboundDeps {
  db: Db;
  scheduler: DeliveryScheduler;
  clock: Clock;
  settings: InboundSettings;
  /** Where a text waits when the database stays unreachable; without one it is answered 503 and lost. */
  spool?: WebhookSpool;
  retry?: DbRetryPolicy;
}

export interface InboundResult {
  kind: InboundKind;
  /** True when this MessageSid was already handled: nothing changed and nothing is said. */
  duplicate: boolean;
  /** The SMS to answer with (TwiML <Message>), or null for empty TwiML. */
  reply: string | null;
  /** Set when the sender is over RATE_LIMIT_INBOUND_PER_MIN: nothing was stored; retry after this long. */
  limitedForMs?: number;
  /**
   * True for an opt-in received before the subscriber's latest opt-out request (a START kept in the spool
   * and applied after a newer STOP): stored, but it changed nothing and is not answered.
   */
  superseded?: boolean;
}

/** Who may claim a text's reply: this request (every attempt), and the live request that kept it, if any. */
export interface ReplyTokens {
  request: string;
  kept: string | null;
}

/** The database could not take the webhook, so it was kept for later: answer 503, nothing is lost. */
export class WebhookKept extends Error {
  constructor(readonly webhook: KeptWebhook) {
    super(`database unavailable; ${webhook.type} ${webhook.messageSid} kept to apply later`);
    this.name = 'WebhookKept';
  }
}

/**
 * Keeps a webhook whose statement kept failing because the database is unreachable, then throws
 * WebhookKept; rethrows `error` unchanged when it is not that or when there is no spool to keep it in.
 */
export async function keepOrRethrow(
  spool: WebhookSpool | undefined,
  webhook: KeptWebhook,
  error: unknown,
): Promise<never> {
  if (!spool || !isDbUnavailable(error)) throw error;
  try {
    await spool.keep(webhook);
  } catch (spoolError) {
    logger.error('webhook lost: the database and the spool both failed', {
      type: webhook.type,
      messageSid: webhook.messageSid,
      error: spoolError,
    });
    throw error;
  }
  logger.warn('database unavailable; webhook kept in the spool', {
    type: webhook.type,
    messageSid: webhook.messageSid,
  });
  throw new WebhookKept(webhook);
}

/**
 * Applies one inbound text (retrying briefly on a lost database, every attempt with the same `tokens`);
 * `receivedAt` dates its consent change.
 */
export async function applyInboundSms(
  deps: Omit<InboundDeps, 'spool'>,
  sms: InboundSms,
  receivedAt: Date,
  tokens: ReplyTokens,
): Promise<InboundResult> {
  const { kind, keyword } = matchInbound(sms.body);
  const applied = await withDbRetry(
    () =>
      receiveInboundSms(deps.db, {
        messageSid: sms.messageSid,
        from: sms.from,
        to: sms.to,
        body: sms.body,
        classification: kind,
        defaultTimeZone: deps.settings.defaultTimeZone,
        now: receivedAt,
        limitPerMinute: deps.settings.perSenderPerMinute ?? null,
        requestToken: tokens.request,
        keptToken: tokens.kept,
      }),
    deps.retry,
  );
  if (applied.outcome === 'limited') {
    logger.warn('inbound sms over the per-sender limit', { from: maskPhone(sms.from), kind });
    return { kind, duplicate: false, reply: null, limitedForMs: applied.retryAfterMs };
  }
  if (applied.outcome === 'superseded') {
    logger.info('opt-in received before the subscriber’s latest opt-out; stored, not applied', {
      from: maskPhone(sms.from),
      messageSid: sms.messageSid,
      receivedAt: receivedAt.toISOString(),
    });
    return { kind, duplicate: false, reply: null, superseded: true };
  }
  const cancelled = applied.outcome === 'duplicate' ? [] : applied.cancelledDeliveryIds;
  await removeSchedules(deps.scheduler, cancelled);
  const duplicate = applied.outcome === 'duplicate';
  const recovered = applied.outcome === 'recovered';
  // A consent change (opt-out, opt-in, confirmation) is worth a line at INFO, and so is a text recovered
  // after its answer was lost; the rest (repeats, HELP, other texts, a STOP from a number already out) are
  // only DEBUG on this hot path.
  const log =
    recovered || (applied.outcome === 'applied' && applied.consentKind)
      ? logger.info.bind(logger)
      : logger.debug.bind(logger);
  log('inbound sms', {
    from: maskPhone(sms.from),
    messageSid: sms.messageSid,
    kind,
    duplicate,
    ...(recovered ? { recovered } : {}),
    cancelledDeliveries: cancelled.length,
  });
  return { kind, duplicate, reply: duplicate ? null : chooseReply(deps, sms, kind, keyword) };
}

export async function handleInboundSms(deps: InboundDeps, sms: InboundSms): Promise<InboundResult> {
  const receivedAt = deps.clock.now();
  const replyToken = randomUUID();
  try {
    return await applyInboundSms(deps, sms, receivedAt, { request: replyToken, kept: null });
  } catch (error) {
    return keepOrRethrow(
      deps.spool,
      { type: 'inbound', ...sms, receivedAt: receivedAt.toISOString(), replyToken },
      error,
    );
  }
}

function chooseReply(
  deps: Pick<InboundDeps, 'settings'>,
  sms: InboundSms,
  kind: InboundKind,
  keyword: string | null,
) {
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
