// Twilio SMS for whatever texts (sender; webhooks for the double opt-in; npm start with real Twilio keys).
import type { Credentials, TwilioCredentials } from '../adapters/credentials.js';
import { createTwilioSms, type TwilioSender } from '../adapters/twilio-sms.js';
import { ConfigError, type Settings } from '../config.js';
import { TWILIO_CALLS, type TwilioSendBound } from '../domain/call-budgets.js';
import type { SmsSender } from '../services/ports.js';

type SenderSettings = Pick<Settings, 'TWILIO_MESSAGING_SERVICE_SID' | 'TWILIO_FROM_NUMBER'>;

/** The messaging service when there is one (it picks the number), else the number. */
export function twilioSenderFrom(config: SenderSettings): TwilioSender {
  if (config.TWILIO_MESSAGING_SERVICE_SID)
    return { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID };
  if (config.TWILIO_FROM_NUMBER) return { from: config.TWILIO_FROM_NUMBER };
  throw new ConfigError([
    'TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID: one is required (both missing)',
  ]);
}

/** `bound`: the caller's (src/domain/call-budgets.ts); the sender's by default. */
export function twilioSms(
  config: SenderSettings,
  credentials: TwilioCredentials | Credentials<TwilioCredentials>,
  bound: TwilioSendBound = TWILIO_CALLS.senderSend,
): SmsSender {
  return createTwilioSms({
    credentials,
    sender: twilioSenderFrom(config),
    requestTimeoutMs: bound.attemptMs,
    retryWindowMs: bound.retryWindowMs,
    maxRetries: bound.maxRetries,
  });
}
