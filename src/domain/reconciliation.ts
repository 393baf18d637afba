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
 * Only an API-created outbound message whose text equals the body we sent: the service sends other texts to
 * the same number through the same API (HELP replies, opt-in requests), so one candidate is not proof.
 * `none` when Twilio's texts are all known and none is ours; `ambiguous` (an operator decides) when we cannot
 * compare (our body unknown, or Twilio erased a text) or our text went out more than once.
 */
export function chooseCandidate(messages: ProviderMessage[], body: string | null): CandidateChoice {
  const outbound = messages.filter((m) => m.direction === 'outbound-api');
  if (outbound.length === 0) return { kind: 'none' };
  if (body === null) return { kind: 'ambiguous', count: outbound.length };
  const matching = outbound.filter((m) => m.body === body);
  if (matching.length === 1) return { kind: 'one', message: matching[0] as ProviderMessage };
  if (matching.length === 0 && outbound.every((m) => m.body !== null)) return { kind: 'none' };
  return { kind: 'ambiguous', count: outbound.length };
}
