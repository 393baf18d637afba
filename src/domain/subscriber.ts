// A subscriber's lifecycle and the consent ledger's words for how it changed.

/** pending until they text YES; opted_out after STOP (or an operator's removal, or a carrier opt-out). */
export const SUBSCRIBER_STATUSES = ['pending', 'active', 'opted_out'] as const;
export type SubscriberStatus = (typeof SUBSCRIBER_STATUSES)[number];

const CONSENT_KINDS = ['opt_in', 'opt_out', 'confirm'] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];

/** Who changed consent: the subscriber by SMS, the API, the carrier (Twilio error 21610), an operator. */
const CONSENT_SOURCES = ['sms', 'api', 'carrier', 'operator'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

export const isSubscriberStatus = (value: string): value is SubscriberStatus =>
  (SUBSCRIBER_STATUSES as readonly string[]).includes(value);
