// Pure rules for the daily reconciliation with Twilio's Messages API.

/** What the SMS provider says became of a message (Twilio Messages API). */
export interface ProviderMessage {
  sid: string;
  /** Twilio's status (src/domain/delivery-status.ts); kept as sent, an unknown one included. */
  status: string;
  errorCode: number | null;
  /** Null once Twilio has erased it (PII retention). */
  to: string | null;
  /** outbound-api, outbound-reply, inbound, …; null when Twilio left it out. */
  direction: string | null;
  dateCreated: Date | null;
  dateSent: Date | null;
  body: string | null;
  segments: number | null;
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
