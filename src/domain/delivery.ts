// A delivery is one subscriber's message for one local date: the states it moves through and why one that
// was not sent was skipped. What Twilio reported about a sent one is src/domain/delivery-status.ts.

export const DELIVERY_STATES = [
  'planned',
  'sending',
  'sent',
  'skipped',
  'failed',
  'cancelled',
  'unknown',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** Why the planner skipped a delivery (stored as the row's reason). The order is the stored encoding's. */
export const PLANNER_SKIP_REASONS = ['quota', 'capacity', 'bad_timezone'] as const;
export type PlannerSkipReason = (typeof PLANNER_SKIP_REASONS)[number];

/** Why the sender skipped a planned delivery when its moment came (stored as the row's reason). */
const SENDER_SKIP_REASONS = [
  'opted_out',
  'not_active',
  'paused',
  'early',
  'late',
  'quota',
  'cost_cap',
  // Planned in a zone the subscriber no longer has: its window is not 12–17 where they are now.
  'time_zone_changed',
  // A text already landed on this local date of the subscriber's zone (sent in their previous zone).
  'already_sent_today',
] as const;
export type SenderSkipReason = (typeof SENDER_SKIP_REASONS)[number];

/** Why planned deliveries were cancelled by a change to the subscriber (an opt-out cancels in SQL). */
export type CancelReason = 'paused' | 'time_zone_changed';
