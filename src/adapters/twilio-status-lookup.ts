// Twilio Messages API, read side: the status of one message by SID, and messages sent to a number in a
// time range. Used by the daily reconciliation.
import twilio from 'twilio';
import type { E164 } from '../domain/phone.js';
import type { MessageStatusLookup, ProviderMessage } from '../services/ports.js';

type TwilioClient = ReturnType<typeof twilio>;
type MessageInstance = Awaited<ReturnType<ReturnType<TwilioClient['messages']>['fetch']>>;

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
}

function toProviderMessage(m: MessageInstance): ProviderMessage {
  const segments = Number.parseInt(String(m.numSegments ?? ''), 10);
  return {
    sid: m.sid,
    status: String(m.status),
    errorCode: m.errorCode ?? null,
    to: m.to,
    direction: String(m.direction),
    dateCreated: m.dateCreated ?? null,
    dateSent: m.dateSent ?? null,
    body: m.body ?? null,
    segments: Number.isFinite(segments) && segments > 0 ? segments : null,
  };
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 404;
}

export class TwilioStatusLookup implements MessageStatusLookup {
  private readonly client: TwilioClient;

  constructor(credentials: TwilioCredentials, client?: TwilioClient) {
    // autoRetry: back off on Twilio's 429s instead of failing the run.
    this.client =
      client ?? twilio(credentials.accountSid, credentials.authToken, { autoRetry: true, maxRetries: 3 });
  }

  async fetchStatus(sid: string): Promise<ProviderMessage | null> {
    try {
      return toProviderMessage(await this.client.messages(sid).fetch());
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async findSentTo(to: E164, from: Date, until: Date): Promise<ProviderMessage[]> {
    const messages = await this.client.messages.list({
      to,
      dateSentAfter: from,
      dateSentBefore: until,
      limit: 20,
    });
    return messages.map(toProviderMessage);
  }
}
