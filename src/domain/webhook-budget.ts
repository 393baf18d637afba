// The webhooks Lambda's 15 s, shared out so that a request the database cannot take in time (a row lock
// held by an operator remove or the sender, a failover, a refused password) is kept in the spool and
// answered 503 before the Lambda is stopped: a request still waiting on Postgres when the timeout hits is
// lost, and Twilio does not retry an inbound text. One definition: the stack sets the Lambda's timeout from
// it (lib/constructs/webhook-api.ts), the Lambda's pool its timeouts (src/wiring/webhooks.ts), the webhook
// retries their budget (src/services/db-retry.ts); test/infra/webhook-budget.test.ts checks the sum
// against the synthesized template.

export const WEBHOOK_DB_BUDGET = {
  /** The webhooks Lambda's timeout; Twilio also waits 15 s for an answer. */
  lambdaTimeoutMs: 15_000,
  /** Retries start only within this long of the first attempt (WEBHOOK_RETRY). */
  retryMs: 4_000,
  /** Opening one connection (pg's connectionTimeoutMillis). */
  connectMs: 2_000,
  /** One statement, lock waits included (statement_timeout). */
  statementMs: 4_000,
  /** One lock wait (lock_timeout): shorter than a statement, so a held row lock leaves time to retry. */
  lockMs: 2_000,
  /** Left for keeping the webhook (an SQS SendMessage) and answering. */
  keepMs: 2_000,
} as const;

/**
 * The longest a webhook's database work can take before it is kept: the last attempt starts just before
 * the retry budget ends, may connect twice (CredentialedPool re-reads a refused password and connects once
 * more), and then runs one statement.
 */
export function webhookWorstCaseMs(budget: typeof WEBHOOK_DB_BUDGET = WEBHOOK_DB_BUDGET): number {
  return budget.retryMs + 2 * budget.connectMs + budget.statementMs + budget.keepMs;
}
