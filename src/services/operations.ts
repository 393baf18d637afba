// What an operator does, as one port: the CLI runs it against the database (src/local/local-operations.ts)
// or against a deployed stack's API (src/adapters/operations-api.ts), and both return the views in
// operator-views.ts. The read use cases below are what the API routes and the local implementation call.
import type { Db } from '../db/connection.js';
import {
  deliveriesOnLocalDate,
  deliveryById,
  type ListingOptions,
  recentDeliveries,
} from '../db/repositories/deliveries/listing.js';
import {
  findSubscriberByPhone,
  pageSubscribers,
  type SubscriberFilter,
} from '../db/repositories/subscribers.js';
import { CALENDAR_DATE_RULE, isCalendarDate } from '../domain/calendar-date.js';
import { type CapacitySettings, capacityReport, type ZoneShare } from '../domain/capacity.js';
import type { E164 } from '../domain/phone.js';
import type { TimeZone } from '../domain/time-zone.js';
import type { DailyReport } from './daily-report.js';
import { OperationError } from './operation-error.js';
import type {
  CapacityView,
  DeliveriesOfDate,
  DeliveryView,
  SendNowView,
  SubscriberDetail,
  SubscriberPage,
} from './operator-views.js';
import type { ReservedSend } from './send-now.js';
import { type NewSubscriberInput, SubscriberNotFound, type SubscriberView, toView } from './subscribers.js';

// Its own module so the daily-report Lambda can throw one without bundling the operator's use cases.
export { OperationError } from './operation-error.js';

export interface SubscriberQuery extends SubscriberFilter {
  /** Page size (1–1000). */
  limit: number;
  /** The `next` of the previous page. */
  after?: string;
}

interface CapacityQuery {
  subscribers: number;
  /** "America/New_York=60,America/Los_Angeles=40"; default: everyone in one zone (the worst case). */
  zones?: string;
  /** Local only: config/<stage>.json and overrides; a deployed API reports the stage it runs. */
  stage?: string;
  set?: Record<string, string>;
}

export interface Operations {
  addSubscriber(input: NewSubscriberInput): Promise<SubscriberView>;
  listSubscribers(query: SubscriberQuery): Promise<SubscriberPage>;
  showSubscriber(phone: E164, options: ListingOptions): Promise<SubscriberDetail>;
  removeSubscriber(phone: E164): Promise<SubscriberView>;
  setTimeZone(phone: E164, timeZone: TimeZone): Promise<SubscriberView>;
  /** Deliveries of one local date; default today in the deployment's DEFAULT_TIMEZONE. */
  deliveries(query: { date?: string; bodies?: boolean }): Promise<DeliveriesOfDate>;
  /** The daily report of one UTC day; default today. */
  usage(day?: string): Promise<DailyReport>;
  capacity(query: CapacityQuery): Promise<CapacityView>;
  /**
   * Today's message for one active subscriber now (one per local day). Resolves once the sender has
   * finished with it, or throws OperationError 'unfinished' after `waitMs`.
   */
  sendNow(phone: E164, options: { waitMs: number }): Promise<SendNowView>;
  close(): Promise<void>;
}

/** Keyset paging: the cursor is the last subscriber's id, which says nothing about anyone. */
const CURSOR = /^[1-9]\d{0,9}$/;
/** subscribers.id is a Postgres integer: no id, so no cursor, is above this. */
const MAX_SUBSCRIBER_ID = 2_147_483_647;

/** The id a cursor names, or OperationError bad_input: a cursor no page could have given is refused. */
function cursorId(after: string): number {
  const id = CURSOR.test(after) ? Number(after) : Number.NaN;
  if (!(id <= MAX_SUBSCRIBER_ID))
    throw new OperationError('bad_input', `not a page cursor: ${JSON.stringify(after)}`);
  return id;
}

export async function listSubscriberPage(db: Db, query: SubscriberQuery): Promise<SubscriberPage> {
  const afterId = query.after === undefined ? undefined : cursorId(query.after);
  // One more than asked: whether it exists says whether there is a next page.
  const rows = await pageSubscribers(db, query, { limit: query.limit + 1, afterId });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    subscribers: page.map(toView),
    next: rows.length > query.limit && last ? String(last.id) : null,
  };
}

/** One subscriber and their latest 10 deliveries. */
export async function subscriberDetail(
  db: Db,
  phone: E164,
  options: ListingOptions = {},
): Promise<SubscriberDetail> {
  const row = await findSubscriberByPhone(db, phone);
  if (!row) throw new SubscriberNotFound();
  return { ...toView(row), deliveries: await recentDeliveries(db, row.id, 10, options) };
}

export async function deliveriesOfDate(
  db: Db,
  date: string,
  options: ListingOptions = {},
): Promise<DeliveriesOfDate> {
  // The API's schema has refused a bad date already; the CLI's local path arrives here with what was typed.
  if (!isCalendarDate(date))
    throw new OperationError('bad_input', `date ${CALENDAR_DATE_RULE} (got ${JSON.stringify(date)})`);
  return { date, deliveries: await deliveriesOnLocalDate(db, date, options) };
}

export class DeliveryNotFound extends Error {
  constructor() {
    super('no delivery has this id');
    this.name = 'DeliveryNotFound';
  }
}

export async function deliveryView(db: Db, id: string, options: ListingOptions = {}): Promise<DeliveryView> {
  const view = await deliveryById(db, id, options);
  if (!view) throw new DeliveryNotFound();
  return view;
}

/** A send-now as the operator sees it: which delivery, and its state now. */
export async function sendNowView(
  db: Db,
  reserved: Pick<ReservedSend, 'deliveryId' | 'localDate' | 'demoWindow'>,
): Promise<SendNowView> {
  const { deliveryId, localDate, demoWindow } = reserved;
  return { deliveryId, localDate, demoWindow, delivery: await deliveryView(db, deliveryId) };
}

/** The capacity report of a stage's settings, as `positivity capacity` and GET /api/capacity show it. */
export function capacityView(
  deployed: { stage: string; settings: CapacitySettings },
  subscribers: number,
  zones?: ZoneShare[],
): CapacityView {
  return { ...deployed, ...capacityReport(deployed.settings, subscribers, zones) };
}

/** States the sender has finished with. */
export const FINISHED_STATES: ReadonlySet<DeliveryView['state']> = new Set([
  'sent',
  'skipped',
  'failed',
  'cancelled',
  'unknown',
]);

/** One sentence for a send-now, from the delivery's state. */
export function describeSendNowView(view: SendNowView): string {
  const d = view.delivery;
  const when = view.demoWindow ? ' (outside the send window: used a demo window starting now)' : '';
  switch (d.state) {
    case 'sent':
      return `Sent today's message${d.fallback ? ' (curated fallback)' : ''}${when}; Twilio SID ${d.messageSid}.`;
    case 'skipped':
      return `Not sent: the sender skipped it (${d.reason}).`;
    case 'failed':
      return `Not sent: the send failed (${d.reason}${d.errorCode ? `, code ${d.errorCode}` : ''}).`;
    case 'cancelled':
      return `Not sent: the delivery was cancelled (${d.reason}).`;
    case 'unknown':
      return `Unknown: Twilio's answer was lost (${d.reason}); the reconcile job settles it, never by resending.`;
    default:
      return `Not finished yet: the delivery is ${d.state}.`;
  }
}
