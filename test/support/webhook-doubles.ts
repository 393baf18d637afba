// Test doubles and request builders for the webhooks app: the app wired with them (testApp), recording SMS
// sender and scheduler, a counting rate limiter, and Twilio-signed form requests (signed with twilio's own
// getExpectedTwilioSignature).
import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { DateTime } from 'luxon';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { fixedCredentials } from '../../src/adapters/credentials.js';
import { loadConfig, requireSettings } from '../../src/config.js';
import { type AppConfig, type AppDeps, createApp } from '../../src/http/app.js';
import type {
  BudgetName,
  DeliveryScheduler,
  LimitDecision,
  OutboundSms,
  RateLimiter,
  Reservation,
  SmsReceipt,
  SmsSender,
} from '../../src/services/ports.js';
import { setMessageStatus } from './db.js';
import { reserveVia } from './limiter-reserve.js';

export const ACCOUNT_SID = `AC${'b2'.repeat(16)}`;
export const AUTH_TOKEN = 'test-auth-token-0123456789abcdef';
export const API_TOKEN = 'test-api-token-0123456789abcdefghij';
export const PUBLIC_BASE_URL = 'https://sms.example.com';

/** The webhooks app's config as a test wants it: fixed tokens, overridable settings. */
export function testConfig(env: Record<string, string> = {}): AppConfig {
  const config = loadConfig({
    PUBLIC_BASE_URL,
    SERVICE_NAME: 'Daily Positivity',
    HELP_CONTACT: 'help@example.com',
    DEFAULT_TIMEZONE: 'America/Chicago',
    ...env,
  });
  return {
    ...requireSettings(config, ['PUBLIC_BASE_URL']),
    credentials: {
      twilio: fixedCredentials({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }),
      api: fixedCredentials({ apiToken: API_TOKEN }),
    },
  };
}

/** The webhooks app on `deps.db`, with testConfig(), a RecordingSms and a RecordingScheduler unless named. */
export function testApp(deps: Pick<AppDeps, 'db'> & Partial<AppDeps>): Hono {
  return createApp({
    config: testConfig(),
    sms: new RecordingSms(),
    scheduler: new RecordingScheduler(),
    ...deps,
  });
}

export const newSid = (prefix = 'SM') => `${prefix}${randomBytes(16).toString('hex')}`;

export class RecordingSms implements SmsSender {
  readonly sent: OutboundSms[] = [];
  failWith: Error | null = null;
  async send(message: OutboundSms): Promise<SmsReceipt> {
    if (this.failWith) throw this.failWith;
    this.sent.push(message);
    return { sid: newSid(), status: 'queued', segments: 1 };
  }
}

export class RecordingScheduler implements DeliveryScheduler {
  readonly cancelled: string[] = [];
  async schedule(): Promise<string> {
    throw new Error('the webhooks never schedule');
  }
  async cancel(deliveryId: string): Promise<void> {
    this.cancelled.push(deliveryId);
  }
}

/** Really counts: `limit` points per (budget, key), then refuses with a fixed retry delay. */
export class CountingLimiter implements RateLimiter {
  readonly counts = new Map<string, number>();
  throwing = false;
  constructor(
    readonly limit: number,
    readonly retryAfterMs = 12_500,
  ) {}
  async consume(budget: BudgetName, key: string, points = 1): Promise<LimitDecision> {
    if (this.throwing) throw new Error('limiter store down');
    const id = `${budget}|${key}`;
    const used = (this.counts.get(id) ?? 0) + points;
    if (used > this.limit) return { allowed: false, retryAfterMs: this.retryAfterMs };
    this.counts.set(id, used);
    return { allowed: true, remaining: this.limit - used };
  }
  async waitForTurn(budget: BudgetName, key: string, _deadline: Date, points = 1) {
    return this.consume(budget, key, points);
  }
  reserve(budget: BudgetName, key: string, estimate: number, deadline?: Date): Promise<Reservation> {
    return reserveVia(this, budget, key, estimate, deadline);
  }
  async refund(budget: BudgetName, key: string, points: number) {
    const id = `${budget}|${key}`;
    this.counts.set(id, Math.max(0, (this.counts.get(id) ?? 0) - points));
  }
}

/** A form-encoded, Twilio-signed request for `path` (signature over PUBLIC_BASE_URL + path). */
export function signedForm(
  path: string,
  params: Record<string, string>,
  options: { token?: string; signature?: string | null; baseUrl?: string } = {},
): { body: string; headers: Record<string, string> } {
  const body = new URLSearchParams(params).toString();
  const signature =
    options.signature === undefined
      ? getExpectedTwilioSignature(
          options.token ?? AUTH_TOKEN,
          `${options.baseUrl ?? PUBLIC_BASE_URL}${path}`,
          params,
        )
      : options.signature;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (signature !== null) headers['x-twilio-signature'] = signature;
  return { body, headers };
}

export function inboundParams(
  from: string,
  body: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const sid = newSid();
  return {
    ToCountry: 'US',
    SmsMessageSid: sid,
    NumMedia: '0',
    SmsSid: sid,
    SmsStatus: 'received',
    Body: body,
    FromCountry: 'US',
    To: '+14155550100',
    MessagingServiceSid: `MG${'9f8e'.repeat(8)}`,
    NumSegments: '1',
    MessageSid: sid,
    AccountSid: ACCOUNT_SID,
    From: from,
    ApiVersion: '2010-04-01',
    ...extra,
  };
}

export function statusParams(
  messageSid: string,
  status: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SmsSid: messageSid,
    SmsStatus: status,
    MessageStatus: status,
    To: '+12125550123',
    MessagingServiceSid: `MG${'9f8e'.repeat(8)}`,
    MessageSid: messageSid,
    AccountSid: ACCOUNT_SID,
    From: '+14155550100',
    ApiVersion: '2010-04-01',
    ...extra,
  };
}

/** Row counts of every application table: "zero rows changed" is this snapshot staying equal. */
export async function rowCounts(
  db: import('../../src/db/connection.js').Db,
): Promise<Record<string, number>> {
  const { APP_TABLES } = await import('../../src/db/schema.js');
  const counts: Record<string, number> = {};
  for (const table of APP_TABLES) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}

/** A subscriber and, optionally, a planned delivery for them (window two to seven hours from now). */
export async function seedSubscriber(
  db: import('../../src/db/connection.js').Db,
  row: { phone: string; status?: 'pending' | 'active' | 'opted_out'; name?: string | null },
  delivery?: { localDate?: string; state?: 'planned' | 'sent'; messageSid?: string; deliveryStatus?: string },
) {
  const subscriber = await db
    .insertInto('subscribers')
    .values({
      phone: row.phone,
      status: row.status ?? 'active',
      time_zone: 'America/New_York',
      name: row.name ?? null,
      confirmed_at: row.status === 'pending' ? null : new Date(),
      opted_out_at: row.status === 'opted_out' ? new Date() : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (!delivery) return { subscriber, delivery: undefined };
  const hour = 3_600_000;
  const now = Date.now();
  const state = delivery.state ?? 'planned';
  const created = await db
    .insertInto('deliveries')
    .values({
      subscriber_id: subscriber.id,
      local_date: delivery.localDate ?? '2026-11-25',
      time_zone: 'America/New_York',
      window_start: new Date(now + 2 * hour),
      window_end: new Date(now + 7 * hour),
      planned_at: new Date(now + 3 * hour),
      state,
      ...(state === 'sent'
        ? { claimed_at: new Date(), sent_at: new Date(), message_sid: delivery.messageSid ?? newSid() }
        : {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (created.message_sid) {
    await setMessageStatus(db, created.message_sid, delivery.deliveryStatus ?? 'queued');
  }
  return { subscriber, delivery: created };
}

/** A New York subscriber at `phone` whose delivery for today is planned and has its schedule; its id. */
export async function subscriberWithScheduledDelivery(
  db: import('../../src/db/connection.js').Db,
  phone: string,
): Promise<string> {
  const zone = 'America/New_York';
  const s = await db
    .insertInto('subscribers')
    .values({ phone, time_zone: zone, status: 'active' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const today = DateTime.now().setZone(zone).startOf('day');
  const d = await db
    .insertInto('deliveries')
    .values({
      subscriber_id: s.id,
      local_date: today.toISODate() as string,
      time_zone: zone,
      window_start: today.plus({ hours: 12 }).toJSDate(),
      window_end: today.plus({ hours: 17 }).toJSDate(),
      planned_at: today.plus({ hours: 15 }).toJSDate(),
      state: 'planned',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db
    .updateTable('deliveries')
    .set({ schedule_name: `delivery-${d.id}`, scheduled_at: new Date() })
    .where('id', '=', d.id)
    .execute();
  return d.id;
}
