// Pure rules for the daily reconciliation with Twilio's Messages API.
import type { ProviderMessage } from '../services/ports.js';

/** Statuses after which Twilio sends no further callback for a message. */
export const FINAL_STATUSES = ['delivered', 'undelivered', 'failed', 'canceled', 'read'] as const;

export function isFinalStatus(status: string | null | undefined): boolean {
  return status != null && (FINAL_STATUSES as readonly string[]).includes(status);
}

export type CandidateChoice =
  | { kind: 'none' }
  | { kind: 'one'; message: ProviderMessage }
  | { kind: 'ambiguous'; count: number };

/**
 * A delivery claimed without a recorded SID: which of the messages Twilio sent to that number is ours?
 * Only API-created outbound messages count; with several, the one whose text matches the stored body.
 */
export function chooseCandidate(messages: ProviderMessage[], body: string | null): CandidateChoice {
  const outbound = messages.filter((m) => m.direction === 'outbound-api');
  if (outbound.length === 0) return { kind: 'none' };
  if (outbound.length === 1) return { kind: 'one', message: outbound[0] as ProviderMessage };
  const matching = body === null ? [] : outbound.filter((m) => m.body === body);
  if (matching.length === 1) return { kind: 'one', message: matching[0] as ProviderMessage };
  return { kind: 'ambiguous', count: outbound.length };
}
