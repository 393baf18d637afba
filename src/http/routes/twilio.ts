// POST /twilio/inbound (TwiML reply) and POST /twilio/status (empty 204). Both signed by Twilio.
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import * as z from 'zod';
import type { Credentials, TwilioCredentials } from '../../adapters/credentials.js';
import { classifyInbound } from '../../domain/inbound-keywords.js';
import { appendCorrelationKeys, logger } from '../../logger.js';
import { countInboundResult, countStatusCallback } from '../../metrics.js';
import { handleInboundSms, type InboundDeps } from '../../services/inbound.js';
import { type MetricsSink, noMetrics, type RateLimiter } from '../../services/ports.js';
import { recordStatusCallback, type StatusCallbackDeps } from '../../services/status-callbacks.js';
import { rateLimit } from '../rate-limit.js';
import { param, type TwilioEnv, type TwilioParams, twiml, verifyTwilioSignature } from '../twilio.js';

const sid = z
  .string()
  .regex(/^[A-Z]{2}[0-9a-fA-F]{32}$/, 'expected a Twilio SID (two letters + 32 hex digits)');
const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number');

// Only the fields we use are checked; Twilio adds parameters without notice and they are all signed over.
const InboundForm = z.object({
  MessageSid: sid,
  From: e164,
  To: z.string().max(30).optional(),
  Body: z.string().max(1600).default(''),
  OptOutType: z.string().max(20).optional(),
});

const StatusForm = z.object({
  MessageSid: sid,
  MessageStatus: z.string().regex(/^[a-z_]{2,30}$/, 'expected a Twilio message status such as delivered'),
  ErrorCode: z
    .string()
    .regex(/^\d{1,9}$/, 'expected a numeric error code')
    .transform(Number)
    .optional(),
  To: z.string().max(30).optional(),
});

function fields(params: TwilioParams, names: string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((n) => [n, param(params, n)]));
}

/** Rate-limit keys hash the phone number so limiter stores never hold one. */
const hashed = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 20);

export interface TwilioRouteDeps {
  /** Twilio's auth token, which signs every webhook. */
  credentials: Credentials<Pick<TwilioCredentials, 'authToken'>>;
  publicBaseUrl: string;
  inbound: InboundDeps;
  status: StatusCallbackDeps;
  limiter?: RateLimiter;
  metrics?: MetricsSink;
}

export function twilioRoutes(deps: TwilioRouteDeps) {
  const routes = new Hono<TwilioEnv>();
  const metrics = deps.metrics ?? noMetrics;
  const verify = verifyTwilioSignature({ credentials: deps.credentials, publicBaseUrl: deps.publicBaseUrl });

  routes.post(
    '/inbound',
    verify,
    rateLimit<TwilioEnv>({
      limiter: deps.limiter,
      budget: 'inbound',
      style: 'twiml',
      key: (c) => {
        const from = param(c.get('twilioParams'), 'From');
        return from ? `from:${hashed(from)}` : undefined;
      },
      exempt: (c) => classifyInbound(param(c.get('twilioParams'), 'Body')) === 'opt_out',
    }),
    async (c) => {
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
      const result = await handleInboundSms(deps.inbound, {
        messageSid: form.MessageSid,
        from: form.From,
        to: form.To ?? null,
        body: form.Body,
        optOutType: form.OptOutType || null,
      });
      countInboundResult(metrics, result);
      return twiml(c, result.reply);
    },
  );

  routes.post(
    '/status',
    verify,
    rateLimit<TwilioEnv>({
      limiter: deps.limiter,
      budget: 'status',
      style: 'twiml',
      key: (c) => {
        const messageSid = param(c.get('twilioParams'), 'MessageSid');
        return messageSid ? `sid:${messageSid}` : undefined;
      },
    }),
    async (c) => {
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
      appendCorrelationKeys({ messageSid: parsed.data.MessageSid });
      const result = await recordStatusCallback(deps.status, {
        messageSid: parsed.data.MessageSid,
        status: parsed.data.MessageStatus,
        errorCode: parsed.data.ErrorCode ?? null,
        to: parsed.data.To ?? null,
      });
      countStatusCallback(metrics, parsed.data.MessageStatus, result);
      return c.body(null, 204);
    },
  );
  return routes;
}
