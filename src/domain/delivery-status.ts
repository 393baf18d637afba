// Twilio message statuses, the one vocabulary for them here. They only move forward: callbacks arrive out
// of order and twice, so a delivery's status is the furthest one seen, and a final status (delivered,
// undelivered, failed, …) is never replaced by a late `sent`.

/**
 * Statuses Twilio reports for an outbound message (its Message resource's list without the inbound-only
 * `receiving`/`received`), mapped to their rank: earliest first, equal ranks are alternatives.
 */
const RANK = {
  scheduled: 0,
  accepted: 0,
  queued: 0,
  sending: 1,
  sent: 2,
  // Final outcomes: Twilio sends no further callback after one (except `read`). The first recorded stands.
  delivered: 3,
  undelivered: 3,
  failed: 3,
  canceled: 3,
  partially_delivered: 3,
  // Only after delivered (RCS/WhatsApp read receipts).
  read: 4,
} as const satisfies Record<string, number>;

export type DeliveryStatus = keyof typeof RANK;

/** Statuses after which Twilio sends no further callback for a message (`read` may follow `delivered`). */
export const FINAL_STATUSES = (Object.keys(RANK) as DeliveryStatus[]).filter((s) => RANK[s] >= 3);

function isDeliveryStatus(status: string): status is DeliveryStatus {
  return Object.hasOwn(RANK, status);
}

export function isFinalStatus(status: string | null | undefined): boolean {
  return status != null && isDeliveryStatus(status) && RANK[status] >= 3;
}

/**
 * True when a delivery whose latest status is `current` should take `next`. Unknown statuses never
 * replace a known one (they are still stored as events), and `read` only follows `delivered`.
 */
export function shouldAdvance(current: string | null | undefined, next: string): boolean {
  if (!isDeliveryStatus(next)) return false;
  if (current == null || !isDeliveryStatus(current)) return true;
  if (next === 'read') return current === 'delivered' || RANK[current] < 3;
  return RANK[next] > RANK[current];
}

/** The status a delivery ends on after seeing `statuses` in the given order. */
export function foldStatuses(statuses: readonly string[], initial: string | null = null): string | null {
  return statuses.reduce<string | null>(
    (current, next) => (shouldAdvance(current, next) ? next : current),
    initial,
  );
}
