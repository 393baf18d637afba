// Retrying a webhook's one statement while the database is briefly unreachable (a failover, a restart, a
// killed backend): each attempt gets a fresh pooled connection, and the statement is idempotent (keyed by
// MessageSid), so a retry after an attempt whose commit did happen changes nothing. An inbound text's retry
// still learns what that attempt did, by the request's reply token (src/services/inbound.ts).
import { isDbUnavailable } from '../db/connection.js';
import { type BackoffPolicy, backoffDelay } from '../domain/backoff.js';
import { WEBHOOK_DB_BUDGET } from '../domain/call-budgets.js';

export interface DbRetryPolicy {
  /** Longest time spent retrying, from the first attempt. */
  budgetMs: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Inside a Lambda that Twilio waits 15 s for, with time left to keep the webhook if retrying fails. */
const WEBHOOK_RETRY: DbRetryPolicy = { budgetMs: WEBHOOK_DB_BUDGET.retryMs };

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `work`, retrying on database-unavailable errors until the budget is spent; rethrows the last. */
export async function withDbRetry<T>(
  work: () => Promise<T>,
  policy: DbRetryPolicy = WEBHOOK_RETRY,
): Promise<T> {
  const { budgetMs, backoff = { baseMs: 100, capMs: 1_000 }, random = Math.random } = policy;
  const sleep = policy.sleep ?? defaultSleep;
  const until = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      // At least a quarter of the cap, so a fast-failing connect does not spin.
      const wait = Math.max(backoff.capMs / 4, backoffDelay(attempt, random, backoff));
      if (!isDbUnavailable(error) || Date.now() + wait >= until) throw error;
      await sleep(wait);
    }
  }
}
