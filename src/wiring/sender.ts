// What the send service runs on, assembled the same way by the sender Lambda and npm start; only the
// adapters differ (Twilio or the outbox, OpenAI or the curated library, Postgres/Redis or memory limits).
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  type Clock,
  type DeliveryScheduler,
  type MessageWriter,
  type RateLimiter,
  type SmsSender,
  systemClock,
} from '../services/ports.js';
import { type SendDeps, senderSettings } from '../services/send-daily-message.js';

export interface SenderAdapters {
  db: Db;
  sms: SmsSender;
  writer: MessageWriter;
  limiter: RateLimiter;
  /** Removes later schedules when the provider says the recipient opted out. */
  scheduler: DeliveryScheduler;
  clock?: Clock;
}

export function buildSenderDeps(
  config: Settings & { PUBLIC_BASE_URL: string },
  adapters: SenderAdapters,
): SendDeps {
  return { ...adapters, clock: adapters.clock ?? systemClock, settings: senderSettings(config) };
}
