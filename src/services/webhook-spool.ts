// Webhooks kept while the database was unreachable (src/services/inbound.ts keepOrRethrow), applied once
// it answers again: each subscriber's in the order they arrived, the subscribers who opted out (by SMS or
// with the carrier) first, each through the same service call as a live request (idempotent by MessageSid, so applying one
// twice — a spool redelivery, or Twilio's fallback URL — changes nothing the second time).
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { isDbUnavailable } from '../db/connection.js';
import { classifyInbound } from '../domain/inbound-keywords.js';
import { maskPhone, parseE164 } from '../domain/phone.js';
import { logger } from '../logger.js';
import { countKeptWebhook } from '../metrics.js';
import { applyInboundSms, type InboundDeps, type InboundResult } from './inbound.js';
import type { KeptWebhook, MetricsSink, SmsSender, WebhookSpool } from './ports.js';
import {
  applyStatusCallback,
  type StatusCallbackDeps,
  type StatusCallbackResult,
} from './status-callbacks.js';

/** A spool the process itself drains (one-machine mode); in AWS, SQS delivers to a Lambda instead. */
export interface DrainableSpool extends WebhookSpool {
  pending(): Promise<KeptWebhook[]>;
  remove(webhook: KeptWebhook): Promise<void>;
}

const text = (max: number) => z.string().max(max);
const KeptWebhookSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('inbound'),
    messageSid: text(64),
    from: text(32),
    to: text(32).nullable(),
    body: text(1600),
    optOutType: text(20).nullable(),
    receivedAt: z.iso.datetime(),
    // Absent in texts kept by code from before reply tokens (migration 2026-12-01T1800).
    replyToken: z.uuid().optional(),
  }),
  z.object({
    type: z.literal('status'),
    messageSid: text(64),
    status: text(30),
    errorCode: z.number().int().nullable(),
    recipientOptedOut: z.boolean(),
    to: text(32).nullable(),
    receivedAt: z.iso.datetime(),
  }),
]);

/** A kept webhook from its stored JSON, or null (logged) when it is not one. */
export function parseKeptWebhook(json: string): KeptWebhook | null {
  try {
    const parsed = KeptWebhookSchema.safeParse(JSON.parse(json));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  logger.error('a spooled webhook could not be read; left in place', { length: json.length });
  return null;
}

export function isOptOut(webhook: KeptWebhook): boolean {
  return webhook.type === 'inbound' ? classifyInbound(webhook.body) === 'opt_out' : webhook.recipientOptedOut;
}

/** Whose webhook it is: the subscriber's number (the sender of a text, the recipient of a status). */
const subscriberOf = (webhook: KeptWebhook): string =>
  (webhook.type === 'inbound' ? webhook.from : webhook.to) ?? `message:${webhook.messageSid}`;

/**
 * Each subscriber's webhooks in the order they arrived, so their last word stands (START then STOP ends
 * opted out, and the STOP is in the ledger); the subscribers with an opt-out among them before the rest, so
 * a drain cut short by the database going away again has honoured those first; otherwise by first arrival.
 */
export function drainOrder(webhooks: readonly KeptWebhook[]): KeptWebhook[] {
  const bySubscriber = new Map<string, KeptWebhook[]>();
  for (const webhook of [...webhooks].sort((a, b) => a.receivedAt.localeCompare(b.receivedAt))) {
    const key = subscriberOf(webhook);
    const theirs = bySubscriber.get(key);
    if (theirs) theirs.push(webhook);
    else bySubscriber.set(key, [webhook]);
  }
  const optedOut = (theirs: KeptWebhook[]) => Number(theirs.some(isOptOut));
  return [...bySubscriber.values()].sort((a, b) => optedOut(b) - optedOut(a)).flat();
}

/** How a kept text is answered: the request that brought it was answered 503 (no TwiML reply). */
export interface KeptReplies {
  sms: SmsSender;
  /** PUBLIC_BASE_URL + /twilio/status, as every message we send carries. */
  statusCallbackUrl: string;
}

export interface ApplyKeptDeps {
  inbound: Omit<InboundDeps, 'spool'>;
  status: Omit<StatusCallbackDeps, 'spool'>;
  replies: KeptReplies;
  /**
   * Where each applied webhook is counted, as the route counts a live one (countKeptWebhook): an opt-out or
   * a failed message kept while the database was down still reaches the alarms and the CLI report.
   */
  metrics?: MetricsSink;
}

/** What applying one kept webhook did: the same result a live request gets (counted in deps.metrics). */
export type KeptWebhookOutcome =
  | { type: 'inbound'; result: InboundResult }
  | { type: 'status'; status: string; result: StatusCallbackResult };

/**
 * Applies one kept webhook as a live request would have been. The reply a live text would have carried
 * in its TwiML (an opt-out confirmation for a phrase, HELP, START) goes out through the SmsSender instead,
 * once: also when the request that kept the text had in fact applied it (its commit's answer lost), since
 * the text carries that request's reply token. Each apply is a request of its own, with a fresh token, so a
 * redelivery finds the reply claimed and never texts twice. A reply that fails to send is logged, not
 * retried: the text is applied, and applying it again would not reply.
 */
async function applyKeptWebhook(deps: ApplyKeptDeps, webhook: KeptWebhook): Promise<KeptWebhookOutcome> {
  const outcome = await applyKept(deps, webhook);
  if (deps.metrics) countKeptWebhook(deps.metrics, outcome);
  return outcome;
}

async function applyKept(deps: ApplyKeptDeps, webhook: KeptWebhook): Promise<KeptWebhookOutcome> {
  const receivedAt = new Date(webhook.receivedAt);
  // Kept webhooks are never refused by the per-minute limits: they were accepted when they arrived.
  if (webhook.type === 'inbound') {
    const { type: _t, receivedAt: _r, replyToken, ...sms } = webhook;
    const settings = { ...deps.inbound.settings, perSenderPerMinute: null };
    const tokens = { request: randomUUID(), kept: replyToken ?? null };
    const result = await applyInboundSms({ ...deps.inbound, settings }, sms, receivedAt, tokens);
    const { reply, kind } = result;
    // The route checked From as E.164 before the text was kept; a stored file may have been edited since.
    const to = parseE164(sms.from);
    if (reply === null || to === null) return { type: 'inbound', result };
    try {
      const receipt = await deps.replies.sms.send({
        to,
        body: reply,
        statusCallback: deps.replies.statusCallbackUrl,
      });
      logger.info('reply to a kept text sent', { kind, messageSid: receipt.sid, to: maskPhone(sms.from) });
    } catch (error) {
      logger.error('reply to a kept text could not be sent', {
        kind,
        inReplyTo: sms.messageSid,
        to: maskPhone(sms.from),
        error,
      });
    }
    return { type: 'inbound', result };
  }
  const { type: _t, receivedAt: _r, ...callback } = webhook;
  const result = await applyStatusCallback(
    { ...deps.status, perMessagePerMinute: null },
    callback,
    receivedAt,
  );
  return { type: 'status', status: callback.status, result };
}

/** One drain round: how many were applied and are left, and what each applied one did. */
export interface DrainResult {
  applied: number;
  left: number;
  outcomes: KeptWebhookOutcome[];
}

/**
 * Applies what the spool holds, in drain order, removing each once applied. Stops at the first webhook the
 * database cannot take (still down: the rest wait for the next round); a webhook that fails otherwise is
 * logged and left for the operator.
 */
export async function drainSpool(deps: ApplyKeptDeps, spool: DrainableSpool): Promise<DrainResult> {
  const ordered = drainOrder(await spool.pending());
  const outcomes: KeptWebhookOutcome[] = [];
  for (const webhook of ordered) {
    try {
      outcomes.push(await applyKeptWebhook(deps, webhook));
    } catch (error) {
      if (isDbUnavailable(error)) break;
      logger.error('a spooled webhook could not be applied; left in the spool', {
        type: webhook.type,
        messageSid: webhook.messageSid,
        error,
      });
      continue;
    }
    await spool.remove(webhook);
  }
  const applied = outcomes.length;
  if (applied > 0) logger.info('spooled webhooks applied', { applied, left: ordered.length - applied });
  return { applied, left: ordered.length - applied, outcomes };
}

/** One message of a queue-based spool (an SQS record): its id and its body. */
export interface SpooledMessage {
  id: string;
  body: string;
}

/**
 * Applies a batch from a queue-based spool in drain order. Returns the ids that failed, for the queue to
 * deliver again (SQS partial batch response), and what each applied one did. Once the database is found
 * unreachable, the rest of the batch is not tried; a body that is not a kept webhook fails every time and
 * so ends in the dead-letter queue for the operator. `mayStart` is asked before each webhook: once it says
 * no (too little of the invocation left to apply one whole), the rest fail untried, to be delivered again.
 */
export async function applySpooledBatch(
  deps: ApplyKeptDeps,
  messages: SpooledMessage[],
  options: { mayStart?: () => boolean } = {},
): Promise<{ failed: string[]; outcomes: KeptWebhookOutcome[] }> {
  const failed: string[] = [];
  const outcomes: KeptWebhookOutcome[] = [];
  const parsed: { id: string; webhook: KeptWebhook }[] = [];
  for (const message of messages) {
    const webhook = parseKeptWebhook(message.body);
    if (webhook) parsed.push({ id: message.id, webhook });
    else failed.push(message.id);
  }
  const idOf = new Map(parsed.map((p) => [p.webhook, p.id]));
  let databaseDown = false;
  let outOfTime = false;
  for (const webhook of drainOrder(parsed.map((p) => p.webhook))) {
    const id = idOf.get(webhook) as string;
    outOfTime ||= !(options.mayStart?.() ?? true);
    if (databaseDown || outOfTime) {
      failed.push(id);
      continue;
    }
    try {
      outcomes.push(await applyKeptWebhook(deps, webhook));
    } catch (error) {
      databaseDown = isDbUnavailable(error);
      logger.warn('a spooled webhook could not be applied; the queue will deliver it again', {
        type: webhook.type,
        messageSid: webhook.messageSid,
        error,
      });
      failed.push(id);
    }
  }
  if (outOfTime)
    logger.info(
      'too little of the invocation left to apply more spooled webhooks; the queue delivers the rest again',
      {
        left: failed.length,
      },
    );
  return { failed, outcomes };
}

/** Drains every `everyMs` (never two rounds at once) until stopped; stop() waits for a round in progress. */
export function startSpoolDrainer(deps: ApplyKeptDeps, spool: DrainableSpool, everyMs = 2_000) {
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    running = drainSpool(deps, spool)
      .catch((error: unknown) => logger.warn('spool drain round failed', { error }))
      .finally(() => {
        busy = false;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
