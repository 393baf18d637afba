// The texts we send ourselves: opt-in confirmation, opt-out confirmation, HELP, and the double opt-in
// request. CTIA's handbook asks for the program name, frequency, "Msg & data rates may apply", and how to
// get help and stop. Each is kept to one GSM-7 segment (160 characters) when the configured service name
// and contact allow it (src/config.ts lets only GSM-7 text into them), falling back to shorter wording before going over.

import { countSegments } from './gsm.js';

export interface ReplySettings {
  serviceName: string;
  helpContact: string;
}

/** The first candidate that fits one segment, else the shortest. */
function firstFitting(candidates: string[]): string {
  return (
    candidates.find((text) => countSegments(text).segments === 1) ??
    candidates.reduce((a, b) => (a.length <= b.length ? a : b))
  );
}

export function optInConfirmation({ serviceName }: ReplySettings): string {
  return firstFitting([
    `${serviceName}: You're subscribed! 1 msg/day of kind words. Msg & data rates may apply. Reply HELP for help, STOP to opt out.`,
    `${serviceName}: Subscribed. 1 msg/day. Msg & data rates may apply. Reply HELP for help, STOP to opt out.`,
  ]);
}

export function optOutConfirmation({ serviceName }: ReplySettings): string {
  return firstFitting([
    `${serviceName}: You're unsubscribed and will get no more messages. Reply START to subscribe again.`,
    `${serviceName}: Unsubscribed. No more messages. Reply START to rejoin.`,
  ]);
}

export function helpReply({ serviceName, helpContact }: ReplySettings): string {
  return firstFitting([
    `${serviceName}: 1 positive msg/day. Msg & data rates may apply. Reply STOP to opt out, START to rejoin. Help: ${helpContact}`,
    `${serviceName}: 1 msg/day. Msg & data rates may apply. Reply STOP to opt out. Help: ${helpContact}`,
    `${serviceName}: 1 msg/day. Msg&data rates may apply. STOP to end. Help: ${helpContact}`,
  ]);
}

export function doubleOptInRequest({ serviceName }: ReplySettings): string {
  return firstFitting([
    `${serviceName}: Reply YES to get one positive message a day. Msg & data rates may apply. Reply HELP for help, STOP to opt out.`,
    `${serviceName}: Reply YES to get 1 positive msg/day. Msg & data rates may apply. HELP for help, STOP to opt out.`,
  ]);
}
