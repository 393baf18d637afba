// Twilio SMS for the Lambdas that text (sender; webhooks for the double opt-in), from config and the app secret.
import { createTwilioSms, type TwilioSender } from '../../adapters/twilio-sms.js';
import { type Config, ConfigError } from '../../config.js';
import type { SmsSender } from '../../services/ports.js';

export function twilioSenderFrom(config: Config): TwilioSender {
  if (config.TWILIO_MESSAGING_SERVICE_SID)
    return { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID };
  if (config.TWILIO_FROM_NUMBER) return { from: config.TWILIO_FROM_NUMBER };
  throw new ConfigError([
    'TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID: one is required (both missing)',
  ]);
}

export function twilioSms(config: Config): SmsSender {
  const { TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN } = config.secrets;
  if (!TWILIO_ACCOUNT_SID || !TWILIO_AUTH_TOKEN) {
    throw new ConfigError(['TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: required in the app secret (missing)']);
  }
  return createTwilioSms({
    accountSid: TWILIO_ACCOUNT_SID,
    authToken: TWILIO_AUTH_TOKEN,
    sender: twilioSenderFrom(config),
  });
}
