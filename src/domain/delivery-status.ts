// Twilio message statuses only move forward. Callbacks arrive out of order and twice, so a delivery's
// status is the furthest one seen, and a final status (delivered, undelivered, failed) is never replaced
// by a late `sent`.

/** Statuses Twilio reports for an outbound SMS, earliest first; equal ranks are alternatives. */
const RANK: Record<string, number> = {
  scheduled: 0,
  accepted: 0,
  queued: 0,
  sending: 1,
  sent: 2,
  // Final outcomes. The first one recorded stands.
  delivered: 3,
  undelivered: 3,
  failed: 3,
  canceled: 3,
  partially_delivered: 3,
  // Only after delivered (RCS/WhatsApp read receipts).
  read: 4,
};

export const TERMINAL_STATUSES = [
  'delivered',
  'undelivered',
  'failed',
  'canceled',
  'partially_delivered',
  'read',
];

export function isKnownStatus(status: string): boolean {
  return status in RANK;
}

export function isTerminalStatus(status: string | null | undefined): boolean {
  return status != null && TERMINAL_STATUSES.includes(status);
}

/**
 * True when a delivery whose latest status is `current` should take `next`. Unknown statuses never
 * replace a known one (they are still stored as events), and `read` only follows `delivered`.
 */
export function shouldAdvance(current: string | null | undefined, next: string): boolean {
  const nextRank = RANK[next];
  if (nextRank === undefined) return false;
  if (current == null) return true;
  const currentRank = RANK[current];
  if (currentRank === undefined) return true;
  if (next === 'read') return current === 'delivered' || currentRank < 3;
  return nextRank > currentRank;
}

/** The status a delivery ends on after seeing `statuses` in the given order. */
export function foldStatuses(statuses: readonly string[], initial: string | null = null): string | null {
  return statuses.reduce<string | null>(
    (current, next) => (shouldAdvance(current, next) ? next : current),
    initial,
  );
}
