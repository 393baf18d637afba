// The texts we send ourselves: opt-in confirmation, opt-out confirmation, HELP, and the double opt-in
// request. CTIA's handbook asks for the program name, frequency, "Msg & data rates may apply", and how to
// get help and stop. Each is kept to one GSM-7 segment (160 characters) when the configured service name
// and contact allow it, falling back to shorter wording before going over.

export interface ReplySettings {
  serviceName: string;
  helpContact: string;
}

// GSM 03.38 basic character set, and the extension table whose characters take two septets.
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENDED = '^{}\\[~]|€\f';

/** Septets the text needs in GSM-7, or null when it has a character outside GSM-7 (it would go as UCS-2). */
export function gsm7Length(text: string): number | null {
  let length = 0;
  for (const ch of text) {
    if (GSM7_BASIC.includes(ch)) length += 1;
    else if (GSM7_EXTENDED.includes(ch)) length += 2;
    else return null;
  }
  return length;
}

/** True when the text goes as one SMS segment: ≤160 GSM-7 septets, or ≤70 UTF-16 code units (UCS-2). */
export function fitsOneSegment(text: string): boolean {
  const septets = gsm7Length(text);
  return septets === null ? text.length <= 70 : septets <= 160;
}

/** The first candidate that fits one segment, else the shortest. */
function firstFitting(candidates: string[]): string {
  return candidates.find(fitsOneSegment) ?? candidates.reduce((a, b) => (a.length <= b.length ? a : b));
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
