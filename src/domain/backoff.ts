// Exponential back-off with full jitter (the AWS Architecture Blog's "full jitter"): retries from many
// Lambdas spread out instead of arriving together.

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** Delay before retry number `attempt` (0 for the first retry): uniform in [0, min(cap, base·2^attempt)]. */
export function backoffDelay(attempt: number, random: () => number, policy: BackoffPolicy): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/**
 * Milliseconds a Retry-After / retry-after-ms header asks for, or null. Accepts delta-seconds and
 * HTTP-dates (relative to `now`).
 */
export function parseRetryAfter(
  headers: { retryAfterMs?: string | null; retryAfter?: string | null },
  now: Date,
): number | null {
  const ms = Number(headers.retryAfterMs);
  if (headers.retryAfterMs && Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.retryAfter?.trim();
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}
