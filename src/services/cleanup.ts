// Daily retention: forget message text and delivery chatter (and the local outbox's texts) after
// RETENTION_DAYS, the consent ledger after CONSENT_RETENTION_DAYS, and a sign-up nobody answered with YES
// (number, name; the ledger's request stays, unlinked) after PENDING_EXPIRY_DAYS; keep usage_daily and the
// delivery rows themselves (history, cost, the one-per-day uniqueness). Works in bounded batches and stops
// cleanly at a deadline; tomorrow's run continues where it stopped.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Settings } from '../config.js';
import type { Db } from '../db/connection.js';
import {
  clearDeliveryBodies,
  databaseSizeBytes,
  deleteConsentEvents,
  deleteExpiredInvitations,
  deleteInboundMessages,
  deleteOutboxMessages,
  deleteStatusEvents,
} from '../db/repositories/retention.js';
import { logger as defaultLogger } from '../logger.js';
import { MetricName } from '../metrics.js';
import type { Clock, MetricsSink } from './ports.js';

export const DEFAULT_CLEANUP_BATCH = 5_000;
const DAY_MS = 86_400_000;

export interface CleanupResult {
  deliveryBodiesCleared: number;
  inboundMessagesDeleted: number;
  statusEventsDeleted: number;
  consentEventsDeleted: number;
  /** One-machine mode's outbox texts (always 0 in AWS, where Twilio keeps its own log). */
  outboxMessagesDeleted: number;
  /** Sign-ups nobody confirmed within PENDING_EXPIRY_DAYS, deleted (their ledger entries kept, unlinked). */
  pendingSubscribersDeleted: number;
  /** False when the deadline stopped the run before every table was done. */
  complete: boolean;
  batches: number;
  databaseSizeBytes: number;
  retentionCutoff: string;
  consentCutoff: string;
  pendingCutoff: string;
}

export interface CleanupDeps {
  db: Db;
  clock: Clock;
  metrics: MetricsSink;
  logger?: Logger;
}

export interface CleanupOptions {
  batchSize?: number;
  /** Stop starting new batches after this moment (a Lambda passes its remaining time minus a margin). */
  deadline?: Date;
}

export async function runCleanup(
  deps: CleanupDeps,
  config: Pick<Settings, 'RETENTION_DAYS' | 'CONSENT_RETENTION_DAYS' | 'PENDING_EXPIRY_DAYS'>,
  options: CleanupOptions = {},
): Promise<CleanupResult> {
  const log = deps.logger ?? defaultLogger;
  const batchSize = options.batchSize ?? DEFAULT_CLEANUP_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError('batchSize must be a whole number ≥ 1');
  const now = deps.clock.now();
  const retentionCutoff = new Date(now.getTime() - config.RETENTION_DAYS * DAY_MS);
  const consentCutoff = new Date(now.getTime() - config.CONSENT_RETENTION_DAYS * DAY_MS);
  const pendingCutoff = new Date(now.getTime() - config.PENDING_EXPIRY_DAYS * DAY_MS);
  let batches = 0;
  let complete = true;

  const drain = async (step: (limit: number) => Promise<number>): Promise<number> => {
    let total = 0;
    for (;;) {
      if (options.deadline && deps.clock.now() >= options.deadline) {
        complete = false;
        return total;
      }
      const n = await step(batchSize);
      batches += 1;
      total += n;
      if (n < batchSize) return total;
    }
  };

  const deliveryBodiesCleared = await drain((n) => clearDeliveryBodies(deps.db, retentionCutoff, n));
  const inboundMessagesDeleted = await drain((n) => deleteInboundMessages(deps.db, retentionCutoff, n));
  const statusEventsDeleted = await drain((n) => deleteStatusEvents(deps.db, retentionCutoff, n));
  const consentEventsDeleted = await drain((n) => deleteConsentEvents(deps.db, consentCutoff, n));
  const outboxMessagesDeleted = await drain((n) => deleteOutboxMessages(deps.db, retentionCutoff, n));
  const pendingSubscribersDeleted = await drain((n) => deleteExpiredInvitations(deps.db, pendingCutoff, n));
  const sizeBytes = await databaseSizeBytes(deps.db);
  deps.metrics.count(MetricName.DatabaseSizeBytes, sizeBytes);

  const result: CleanupResult = {
    deliveryBodiesCleared,
    inboundMessagesDeleted,
    statusEventsDeleted,
    consentEventsDeleted,
    outboxMessagesDeleted,
    pendingSubscribersDeleted,
    complete,
    batches,
    databaseSizeBytes: sizeBytes,
    retentionCutoff: retentionCutoff.toISOString(),
    consentCutoff: consentCutoff.toISOString(),
    pendingCutoff: pendingCutoff.toISOString(),
  };
  log.info(complete ? 'retention cleanup done' : 'retention cleanup stopped at its deadline', {
    cleanup: result,
  });
  return result;
}
