// What an operator reads and sends, as zod schemas: the API's responses (and its OpenAPI description,
// src/http/openapi.ts) and what the CLI prints with --json, whether it ran against the database or against
// a deployed API (`positivity --api`). Each schema is held equal to the interface the services return, so
// the two paths cannot drift apart.
import * as z from 'zod';
import type { DeliveryView } from '../db/repositories/deliveries/listing.js';
import {
  type CapacityReport,
  type CapacitySettings,
  CapacitySettingsSchema,
  type DatabaseClient,
} from '../domain/capacity.js';
import { DB_POOL_SIZE } from '../domain/database-pools.js';
import { DELIVERY_STATES } from '../domain/delivery.js';
import type { Exactly } from '../domain/exactly.js';
import { SUBSCRIBER_STATUSES } from '../domain/subscriber.js';
import type { DailyReport } from './daily-report.js';
import type { SubscriberView } from './subscribers.js';

export type { DeliveryView };

const isoTime = z.iso
  .datetime()
  .meta({ description: 'UTC instant, ISO 8601', example: '2026-11-24T14:05:09.000Z' });
const localDate = z.iso.date().meta({ description: 'calendar date YYYY-MM-DD', example: '2026-11-24' });
const phone = z
  .string()
  .meta({ description: 'E.164 phone number (full: the operator owns it)', example: '+14155550123' });

// ── Subscribers ─────────────────────────────────────────────────────────────────────────────────────────

export const SubscriberStatusSchema = z.enum(SUBSCRIBER_STATUSES);

export const SubscriberViewSchema = z
  .object({
    phone,
    status: SubscriberStatusSchema,
    paused: z.boolean(),
    timeZone: z.string().meta({ description: 'IANA time zone', example: 'America/New_York' }),
    name: z.string().nullable(),
    confirmedAt: isoTime.nullable(),
    optedOutAt: isoTime.nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: 'Subscriber' });

const DeliveryStateSchema = z.enum(DELIVERY_STATES);

export const DeliveryViewSchema = z
  .object({
    id: z.uuid(),
    phone,
    localDate,
    timeZone: z.string(),
    state: DeliveryStateSchema,
    reason: z.string().nullable(),
    plannedAt: isoTime.nullable(),
    sentAt: isoTime.nullable(),
    deliveryStatus: z.string().nullable(),
    messageSid: z.string().nullable(),
    errorCode: z.number().int().nullable(),
    fallback: z.boolean().nullable(),
    costUsd: z.number().nullable(),
    replacementReasons: z.array(z.string()).nullable(),
    body: z.string().nullable().optional().meta({ description: 'only with bodies=true' }),
  })
  .meta({ id: 'Delivery' });

export const SubscriberDetailSchema = SubscriberViewSchema.extend({
  deliveries: z.array(DeliveryViewSchema).meta({ description: 'the latest 10, newest first' }),
}).meta({ id: 'SubscriberDetail' });
export type SubscriberDetail = SubscriberView & { deliveries: DeliveryView[] };

export const SubscriberPageSchema = z
  .object({
    subscribers: z.array(SubscriberViewSchema),
    next: z
      .string()
      .nullable()
      .meta({ description: 'pass as `after` for the next page; null on the last page' }),
  })
  .meta({ id: 'SubscriberPage' });
export interface SubscriberPage {
  subscribers: SubscriberView[];
  next: string | null;
}

// ── Deliveries of a date, usage, capacity ───────────────────────────────────────────────────────────

export const DeliveriesOfDateSchema = z
  .object({ date: localDate, deliveries: z.array(DeliveryViewSchema) })
  .meta({ id: 'DeliveriesOfDate' });
export interface DeliveriesOfDate {
  date: string;
  deliveries: DeliveryView[];
}

const counts = z.record(z.string(), z.number().int());
export const DailyReportSchema = z
  .object({
    day: localDate,
    sent: z.number().int(),
    delivered: z.number().int(),
    undelivered: z.number().int(),
    failed: z.number().int(),
    awaitingStatus: z.number().int(),
    sendErrors: z.number().int(),
    deliveryRate: z.number().nullable(),
    skipped: counts,
    skippedTotal: z.number().int(),
    optOuts: z.number().int(),
    optIns: z.number().int(),
    confirmations: z.number().int(),
    optInRequests: z.number().int(),
    openaiRequests: z.number().int(),
    openaiTokensIn: z.number().int(),
    openaiTokensOut: z.number().int(),
    fallbacks: z.number().int(),
    replacedDrafts: counts,
    curatedReplacements: z.number().int(),
    smsSegments: z.number().int(),
    estimatedCostUSD: z.number(),
  })
  .meta({ id: 'DailyReport', description: 'What went out on one UTC day, whether it landed, what it cost' });

const perClient = z.object(
  Object.fromEntries(Object.keys(DB_POOL_SIZE).map((c) => [c, z.number().int()])) as Record<
    DatabaseClient,
    z.ZodNumber
  >,
);
const costItem = z.object({ item: z.string(), usdPerMonth: z.number(), arithmetic: z.string() });
export const CapacityViewSchema = z
  .object({
    stage: z.string(),
    settings: CapacitySettingsSchema,
    subscribers: z.number().int(),
    zones: z.array(
      z.object({ utcOffsetMinutes: z.number().int(), share: z.number(), label: z.string().optional() }),
    ),
    fits: z.boolean(),
    lines: z.array(
      z.object({
        id: z.string(),
        title: z.string(),
        need: z.number(),
        limit: z.number(),
        unit: z.string(),
        fits: z.boolean(),
        detail: z.string(),
        change: z.string().optional(),
      }),
    ),
    concurrency: z.object({
      mode: z.enum(['reserved', 'shared']),
      need: perClient,
      totalNeed: z.number().int(),
      max: perClient,
      worstCaseConnections: z.number().int(),
    }),
    monthlyCost: z.object({ fixed: z.array(costItem), usage: z.array(costItem), totalUsd: z.number() }),
  })
  .meta({ id: 'Capacity', description: "A day's needs and the monthly cost under the deployed settings" });
export type CapacityView = { stage: string; settings: CapacitySettings } & CapacityReport;

// ── Test send ───────────────────────────────────────────────────────────────────────────────────────────

export const SendNowViewSchema = z
  .object({
    deliveryId: z.uuid(),
    localDate,
    demoWindow: z.boolean().meta({
      description: 'true when now was outside the send window and a one-hour window from now was used',
    }),
    delivery: DeliveryViewSchema,
  })
  .meta({ id: 'SendNow' });
export interface SendNowView {
  deliveryId: string;
  localDate: string;
  demoWindow: boolean;
  delivery: DeliveryView;
}

// ── Errors ──────────────────────────────────────────────────────────────────────────────────────────────

/**
 * What a refusal or failure is, for scripts: the `code` of the CLI's `{"error":{"code","message"}}`. The
 * API's codes (ApiErrorCodeSchema below) are a subset, plus no_route.
 */
const ErrorCodeSchema = z.enum([
  'usage',
  'bad_input',
  'not_found',
  'conflict',
  'refused',
  'not_migrated',
  'unauthorized',
  'rate_limited',
  'unavailable',
  'unreachable',
  'unfinished',
  'failed',
]);
export type ErrorCode = z.output<typeof ErrorCodeSchema>;

/**
 * The codes /api error answers carry (a subset of the CLI's, plus no_route), one per kind of failure:
 * bad_input 400/413/415, unauthorized 401, not_found 404 (an unknown subscriber or delivery), no_route
 * 404/405 (no such route or method), conflict 409, refused 409/422, rate_limited 429, unavailable 502/503,
 * failed 500. docs/operations.md lists them; src/adapters/operations-api.ts maps them to the CLI's.
 */
export const ApiErrorCodeSchema = z.enum([
  'bad_input',
  'unauthorized',
  'not_found',
  'no_route',
  'conflict',
  'refused',
  'rate_limited',
  'unavailable',
  'failed',
]);
export type ApiErrorCode = z.output<typeof ApiErrorCodeSchema>;

export const ApiErrorSchema = z
  .object({
    error: z.string().meta({ description: 'what is wrong, in words' }),
    code: ApiErrorCodeSchema.meta({ description: 'what kind of failure, for scripts' }),
  })
  .meta({ id: 'Error' });

// The compiler holds each schema to the type the services build; a field added to one fails the build.
const same: [
  Exactly<z.output<typeof SubscriberViewSchema>, SubscriberView>,
  Exactly<z.output<typeof DeliveryViewSchema>, DeliveryView>,
  Exactly<z.output<typeof SubscriberDetailSchema>, SubscriberDetail>,
  Exactly<z.output<typeof SubscriberPageSchema>, SubscriberPage>,
  Exactly<z.output<typeof DeliveriesOfDateSchema>, DeliveriesOfDate>,
  Exactly<z.output<typeof DailyReportSchema>, DailyReport>,
  Exactly<z.output<typeof CapacityViewSchema>, CapacityView>,
  Exactly<z.output<typeof SendNowViewSchema>, SendNowView>,
] = [true, true, true, true, true, true, true, true];
void same;
