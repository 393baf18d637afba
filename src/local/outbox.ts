// The offline stand-in for Twilio: "sends" by storing the text in outbox_messages, then posts the status
// callbacks Twilio would (sent → delivered), form-encoded and signed with the auth token, to the status
// URL the sender gave. Signature validation stays on in one-machine mode, so these exercise the real route.
import { randomBytes } from 'node:crypto';
import twilioWebhooks from 'twilio/lib/webhooks/webhooks.js';
import type { Db } from '../db/connection.js';
import { maskPhone } from '../domain/phone.js';
import { logger } from '../logger.js';
import type { OutboundSms, SmsReceipt, SmsSender } from '../services/ports.js';

const { getExpectedTwilioSignature } = twilioWebhooks;

/** A recognisable fake account: AC followed by zeros. */
export const OUTBOX_ACCOUNT_SID = `AC${'0'.repeat(32)}`;

export interface OutboxOptions {
  db: Db;
  /** The number texts appear to come from. */
  from: string;
  /** Signs the status callbacks, as Twilio signs them with the account's auth token. */
  authToken: string;
  /** Delay before each simulated carrier step. */
  stepDelayMs?: number;
  fetch?: typeof fetch;
}

type Step = 'sent' | 'delivered';
const STEPS: Step[] = ['sent', 'delivered'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class OutboxSmsSender implements SmsSender {
  private readonly pending = new Set<Promise<void>>();
  private readonly stepDelayMs: number;
  private readonly post: typeof fetch;
  private closed = false;

  constructor(private readonly options: OutboxOptions) {
    this.stepDelayMs = options.stepDelayMs ?? 400;
    this.post = options.fetch ?? fetch;
  }

  async send(message: OutboundSms): Promise<SmsReceipt> {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    await this.options.db
      .insertInto('outbox_messages')
      .values({
        sid,
        to_phone: message.to,
        from_phone: this.options.from,
        body: message.body,
        status: 'queued',
        status_callback: message.statusCallback,
      })
      .execute();
    logger.info('outbox: message queued', { messageSid: sid, to: maskPhone(message.to) });
    this.track(this.deliver(sid, message.to, message.statusCallback, STEPS));
    return { sid, status: 'queued', segments: null };
  }

  /** Carries on the carrier steps of messages a previous run left queued or sent (after a restart). */
  async resume(): Promise<number> {
    const open = await this.options.db
      .selectFrom('outbox_messages')
      .select(['sid', 'to_phone', 'status', 'status_callback'])
      .where('status', 'in', ['queued', 'sent'])
      .execute();
    for (const row of open) {
      if (!row.status_callback) continue;
      const remaining = row.status === 'queued' ? STEPS : STEPS.slice(1);
      this.track(this.deliver(row.sid, row.to_phone, row.status_callback, remaining));
    }
    return open.length;
  }

  /** Waits for every simulated callback in flight (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops starting new steps; steps in flight finish. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  private track(work: Promise<void>) {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private async deliver(sid: string, to: string, statusCallback: string, steps: Step[]): Promise<void> {
    for (const status of steps) {
      await sleep(this.stepDelayMs);
      if (this.closed) return;
      try {
        await this.options.db.updateTable('outbox_messages').set({ status }).where('sid', '=', sid).execute();
        await this.callback(statusCallback, {
          AccountSid: OUTBOX_ACCOUNT_SID,
          ApiVersion: '2010-04-01',
          From: this.options.from,
          MessageSid: sid,
          MessageStatus: status,
          SmsSid: sid,
          SmsStatus: status,
          To: to,
        });
      } catch (error) {
        // Twilio does not retry a failed callback either; the reconciliation job exists for this.
        logger.warn('outbox: status callback not delivered', {
          messageSid: sid,
          status,
          error,
        });
        return;
      }
    }
  }

  private async callback(url: string, params: Record<string, string>): Promise<void> {
    const signature = getExpectedTwilioSignature(this.options.authToken, url, params);
    const response = await this.post(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    });
    if (!response.ok) throw new Error(`status endpoint answered ${response.status}`);
  }
}
