// Kysely table types, mirroring migrations/. Rows use Selectable/Insertable/Updateable of these.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { DeliveryState } from '../domain/delivery.js';
import type { InboundKind } from '../domain/inbound-keywords.js';
import type { ConsentKind, ConsentSource, SubscriberStatus } from '../domain/subscriber.js';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string | undefined>;
/** A calendar date as 'YYYY-MM-DD' (the pg DATE parser is set to return strings; see connection.ts). */
type LocalDate = ColumnType<string, string, string>;

interface SubscribersTable {
  id: Generated<number>;
  phone: string;
  status: ColumnType<SubscriberStatus, SubscriberStatus | undefined, SubscriberStatus>;
  paused: ColumnType<boolean, boolean | undefined, boolean>;
  time_zone: string;
  name: string | null;
  confirmed_at: Timestamp | null;
  /** When the latest opt-out request was made (a repeat moves it forward); null unless opted out. */
  opted_out_at: Timestamp | null;
  last_quota_skip_date: LocalDate | null;
  /** Order among the subscribers skipped on last_quota_skip_date: higher is served first. */
  quota_skip_rank: Generated<number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ConsentEventsTable {
  id: Generated<number>;
  subscriber_id: number | null;
  phone: string;
  kind: ConsentKind;
  source: ConsentSource;
  trigger_text: string | null;
  message_sid: string | null;
  created_at: CreatedAt;
}

interface DeliveriesTable {
  id: Generated<string>;
  subscriber_id: number;
  local_date: LocalDate;
  time_zone: string;
  window_start: Timestamp;
  window_end: Timestamp;
  planned_at: Timestamp | null;
  state: ColumnType<DeliveryState, DeliveryState | undefined, DeliveryState>;
  reason: string | null;
  schedule_name: string | null;
  scheduled_at: Timestamp | null;
  schedule_error: string | null;
  claimed_at: Timestamp | null;
  sent_at: Timestamp | null;
  /**
   * Twilio's latest status of this message is message_statuses' row for it. (The table still has a
   * delivery_status column, no longer written and left out here, until a later release drops it.)
   */
  message_sid: string | null;
  /** Twilio's error when it refused the send itself; later ones are message_statuses.error_code. */
  error_code: number | null;
  body: string | null;
  segments: number | null;
  model: string | null;
  fallback: boolean | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost_usd: number | null;
  /** Why each generated draft before `body` was discarded ('guard:<rule>', 'moderation_flagged', …). */
  replacement_reasons: string[] | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

interface DeliveryStatusEventsTable {
  id: Generated<number>;
  message_sid: string;
  status: string;
  error_code: number | null;
  received_at: CreatedAt;
}

/**
 * Twilio's latest status of each message (src/domain/delivery-status.ts), moved forward only: by status
 * callbacks, by the sender's first answer, or by what the API said when reconciled.
 */
interface MessageStatusesTable {
  message_sid: string;
  status: string;
  error_code: number | null;
  updated_at: UpdatedAt;
}

interface InboundMessagesTable {
  id: Generated<number>;
  message_sid: string;
  from_phone: string;
  to_phone: string | null;
  body: string | null;
  classification: InboundKind;
  subscriber_id: number | null;
  received_at: CreatedAt;
  /**
   * The request that may still owe this text's reply (a uuid it made): it claims the reply when its commit's
   * answer was lost (receive_inbound_sms, migration 2026-12-01T1800). Null when no reply can be owed.
   */
  reply_token: string | null;
}

interface UsageDailyTable {
  day: LocalDate;
  openai_requests: Generated<number>;
  openai_tokens_in: Generated<number>;
  openai_tokens_out: Generated<number>;
  fallbacks: Generated<number>;
  sms_sent: Generated<number>;
  sms_segments: Generated<number>;
  estimated_cost_usd: Generated<number>;
  updated_at: UpdatedAt;
}

/** Messages sent per subscriber-local date: what the daily SMS quota counts (docs/planner.md). */
interface SmsQuotaDaysTable {
  local_date: LocalDate;
  sms_sent: Generated<number>;
  updated_at: UpdatedAt;
}

/** Local dates planner runs have decided (see migration 2026-12-01T1100). */
interface PlannedDatesTable {
  local_date: LocalDate;
  first_run: CreatedAt;
  /** Set by a run that finished the date: it saw every subscriber last changed before this instant. */
  considered_before: Timestamp | null;
}

/** One-machine mode only: texts the outbox "sent" instead of Twilio. */
interface OutboxMessagesTable {
  sid: string;
  to_phone: string;
  from_phone: string;
  body: string;
  status: ColumnType<string, string | undefined, string>;
  status_callback: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** Counters written by rate-limiter-flexible (src/adapters/rate-limiter.ts); expire is epoch ms. */
interface RateLimitsTable {
  key: string;
  points: number;
  expire: number | null;
}

export interface Database {
  subscribers: SubscribersTable;
  consent_events: ConsentEventsTable;
  deliveries: DeliveriesTable;
  delivery_status_events: DeliveryStatusEventsTable;
  message_statuses: MessageStatusesTable;
  inbound_messages: InboundMessagesTable;
  usage_daily: UsageDailyTable;
  sms_quota_days: SmsQuotaDaysTable;
  planned_dates: PlannedDatesTable;
  outbox_messages: OutboxMessagesTable;
  rate_limits: RateLimitsTable;
}

/**
 * Application tables, in an order safe for TRUNCATE … CASCADE and for reports. Not rate_limits: its rows
 * are ephemeral counters the limiter expires itself.
 */
export const APP_TABLES = [
  'delivery_status_events',
  'message_statuses',
  'inbound_messages',
  'consent_events',
  'deliveries',
  'usage_daily',
  'sms_quota_days',
  'planned_dates',
  'outbox_messages',
  'subscribers',
] as const satisfies readonly (keyof Database)[];

export type Subscriber = Selectable<SubscribersTable>;
export type NewSubscriber = Insertable<SubscribersTable>;
export type SubscriberUpdate = Updateable<SubscribersTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type ConsentEvent = Selectable<ConsentEventsTable>;
export type UsageDaily = Selectable<UsageDailyTable>;
