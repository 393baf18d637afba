// Texts "as a subscriber" in one-machine mode: builds the form post Twilio would send for an inbound SMS,
// signs it with the auth token, and posts it to our own inbound route over real HTTP, so STOP/START/HELP
// run the production code. A TwiML <Message> reply is what Twilio would text back; it lands in the outbox.
import { randomBytes } from 'node:crypto';
import twilioWebhooks from 'twilio/lib/webhooks/webhooks.js';
import type { Db } from '../db/connection.js';
import { OUTBOX_ACCOUNT_SID } from './outbox.js';

const { getExpectedTwilioSignature } = twilioWebhooks;

export interface SimulatorOptions {
  db: Db;
  /** The public base URL the server validates signatures against (http://localhost:3000). */
  publicBaseUrl: string;
  /** Where to actually send the request (same as publicBaseUrl locally). */
  serverUrl?: string;
  authToken: string;
  /** The service's own number, the inbound "To". */
  serviceNumber: string;
}

export interface SimulatedText {
  status: number;
  /** The text of the TwiML <Message> reply, if any. */
  reply: string | null;
  messageSid: string;
}

function decodeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function replyFromTwiml(twiml: string): string | null {
  const match = /<Message[^>]*>([\s\S]*?)<\/Message>/.exec(twiml);
  return match?.[1] ? decodeXml(match[1]) : null;
}

export async function textAsSubscriber(
  options: SimulatorOptions,
  from: string,
  body: string,
): Promise<SimulatedText> {
  const messageSid = `SM${randomBytes(16).toString('hex')}`;
  const params: Record<string, string> = {
    AccountSid: OUTBOX_ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    Body: body,
    From: from,
    FromCountry: 'US',
    MessageSid: messageSid,
    NumMedia: '0',
    NumSegments: '1',
    SmsMessageSid: messageSid,
    SmsSid: messageSid,
    SmsStatus: 'received',
    To: options.serviceNumber,
  };
  const signedUrl = `${options.publicBaseUrl}/twilio/inbound`;
  const target = `${options.serverUrl ?? options.publicBaseUrl}/twilio/inbound`;
  const response = await fetch(target, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': getExpectedTwilioSignature(options.authToken, signedUrl, params),
    },
    body: new URLSearchParams(params).toString(),
  });
  const text = await response.text();
  const reply = response.ok ? replyFromTwiml(text) : null;
  if (reply) {
    await options.db
      .insertInto('outbox_messages')
      .values({
        sid: `SM${randomBytes(16).toString('hex')}`,
        to_phone: from,
        from_phone: options.serviceNumber,
        body: reply,
        status: 'delivered',
        status_callback: null,
      })
      .execute();
  }
  return { status: response.status, reply, messageSid };
}
