// POST /twilio/inbound (TwiML reply) and POST /twilio/status (empty 204). Both signed by Twilio. This is
// where Twilio's vocabulary ends: fields are cleaned and checked here (zod), Twilio's error 21610 becomes
// the port-level "recipient opted out", and each request is one service call (one SQL statement).

import type { Context } from 'hono';
import { Hono } from 'hono';
import * as z from 'zod';
import type { Credentials } from '../../adapters/credentials.js';
import { TWILIO_UNSUBSCRIBED_RECIPIENT } from '../../adapters/twilio-api.js';
import { E164_SHAPE } from '../../domain/phone.js';
import { appendCorrelationKeys, logger } from '../../logger.js';
import { countInboundResult, countStatusCallback, MetricName, TwilioWebhookRoute } from '../../metrics.js';
import { handleInboundSms, type InboundDeps, WebhookKept } from '../../services/inbound.js';
import { type MetricsSink, noMetrics } from '../../services/ports.js';
import { recordStatusCallback, type StatusCallbackDeps } from '../../services/status-callbacks.js';
import { matchedRoute } from '../matched-route.js';
import { retryAfterSeconds } from '../rate-limit.js';
import {
  formText,
  param,
  type TwilioEnv,
  type TwilioParams,
  type TwilioSigningCredentials,
  twiml,
  verifyTwilioSignature,
} from '../twilio.js';

const sid = formText(
  z.string().regex(/^[A-Z]{2}[0-9a-fA-F]{32}$/, 'expected a Twilio SID (two letters + 32 hex digits)'),
);
const e164 = formText(z.string().regex(E164_SHAPE, 'expected an E.164 number'));

// Only the fields we use are checked; Twilio adds parameters without notice and they are all signed over.
const InboundForm = z.object({
  MessageSid: sid,
  From: e164,
  To: formText(z.string().max(30)).optional(),
  Body: formText(z.string().max(1600)).default(''),
  OptOutType: formText(z.string().max(20)).optional(),
});

const StatusForm = z.object({
  MessageSid: sid,
  MessageStatus: formText(
    z.string().regex(/^[a-z_]{2,30}$/, 'expected a Twilio message status such as delivered'),
  ),
  ErrorCode: formText(z.string().regex(/^\d{1,9}$/, 'expected a numeric error code'))
    .transform(Number)
    .optional(),
  To: formText(z.string().max(30)).optional(),
});

function fields(params: TwilioParams, names: string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((n) => [n, param(params, n)]));
}

export interface TwilioRouteDeps {
  /** Twilio's auth token, which signs every webhook, and our account SID. */
  credentials: Credentials<TwilioSigningCredentials>;
  publicBaseUrl: string;
  inbound: InboundDeps;
  status: StatusCallbackDeps;
  metrics?: MetricsSink;
}

/** 429 with Retry-After and empty TwiML: the per-sender or per-message limit refused this one. */
function limited(c: Context, metrics: MetricsSink, budget: 'inbound' | 'status', retryAfterMs: number) {
  metrics.count(MetricName.RateLimitHits, 1, { budget });
  const seconds = retryAfterSeconds(retryAfterMs);
  logger.warn('rate limited', { budget, route: matchedRoute(c), retryAfterSeconds: seconds });
  c.header('Retry-After', String(seconds));
  return twiml(c, null, 429);
}

/** The database could not take it, but the spool did: 503 (Twilio logs it), nothing lost. */
function kept(c: Context) {
  c.header('Retry-After', '5');
  return twiml(c, null, 503);
}

export function twilioRoutes(deps: TwilioRouteDeps) {
  const routes = new Hono<TwilioEnv>();
  const metrics = deps.metrics ?? noMetrics;
  const verify = (route: TwilioWebhookRoute) =>
    verifyTwilioSignature({
      credentials: deps.credentials,
      publicBaseUrl: deps.publicBaseUrl,
      route,
      metrics,
    });

  routes.post('/inbound', verify(TwilioWebhookRoute.inbound), async (c) => {
    const parsed = InboundForm.safeParse(
      fields(c.get('twilioParams'), ['MessageSid', 'From', 'To', 'Body', 'OptOutType']),
    );
    if (!parsed.success) {
      logger.warn('inbound sms rejected', {
        problems: parsed.error.issues.map((i) => `${i.path}: ${i.message}`),
      });
      return twiml(c, null, 400);
    }
    const form = parsed.data;
    appendCorrelationKeys({ messageSid: form.MessageSid });
    let result: Awaited<ReturnType<typeof handleInboundSms>>;
    try {
      result = await handleInboundSms(deps.inbound, {
        messageSid: form.MessageSid,
        from: form.From,
        to: form.To || null,
        body: form.Body,
        optOutType: form.OptOutType || null,
      });
    } catch (error) {
      if (error instanceof WebhookKept) return kept(c);
      throw error;
    }
    if (result.limitedForMs !== undefined) return limited(c, metrics, 'inbound', result.limitedForMs);
    countInboundResult(metrics, result);
    return twiml(c, result.reply);
  });

  routes.post('/status', verify(TwilioWebhookRoute.status), async (c) => {
    const params = c.get('twilioParams');
    const raw = fields(params, ['MessageSid', 'MessageStatus', 'ErrorCode', 'To']);
    // Older callbacks carry only SmsStatus; an empty ErrorCode means none.
    raw.MessageStatus ??= param(params, 'SmsStatus');
    if (raw.ErrorCode === '') raw.ErrorCode = undefined;
    const parsed = StatusForm.safeParse(raw);
    if (!parsed.success) {
      logger.warn('status callback rejected', {
        problems: parsed.error.issues.map((i) => `${i.path}: ${i.message}`),
      });
      return twiml(c, null, 400);
    }
    const form = parsed.data;
    appendCorrelationKeys({ messageSid: form.MessageSid });
    let result: Awaited<ReturnType<typeof recordStatusCallback>>;
    try {
      result = await recordStatusCallback(deps.status, {
        messageSid: form.MessageSid,
        status: form.MessageStatus,
        errorCode: form.ErrorCode ?? null,
        recipientOptedOut: form.ErrorCode === TWILIO_UNSUBSCRIBED_RECIPIENT,
        to: form.To || null,
      });
    } catch (error) {
      if (error instanceof WebhookKept) return kept(c);
      throw error;
    }
    if (result.limitedForMs !== undefined) return limited(c, metrics, 'status', result.limitedForMs);
    countStatusCallback(metrics, form.MessageStatus, result);
    return c.body(null, 204);
  });
  return routes;
}
