// How long each Lambda may wait on each outside system, and what that adds up to. Every outside call —
// AWS (Scheduler, SQS, Secrets Manager, Lambda), Twilio, OpenAI, Redis, Postgres — has its bound here; the
// stack sets each Lambda's timeout from LAMBDA_TIMEOUT_MS, the wiring sets each client from its bound, and
// test/infra/call-budgets.test.ts checks that what one invocation can spend, call by call, fits inside the
// synthesized timeout with a margin. A call still waiting when the timeout hits is lost with everything
// after it: a webhook not yet kept (Twilio does not retry an inbound text), a reply, a send not yet recorded.
// Pure data and arithmetic; docs/resilience.md ("Outside calls") has the table.

/** One outside call's bounds. */
export interface CallBound {
  /** Opening the connection (TCP and TLS). */
  connectMs: number;
  /** One attempt, from sending the request to its answer; past it the attempt is abandoned. */
  attemptMs: number;
  /** Attempts in all, the first included. */
  attempts: number;
  /** The whole call, retries and back-off included. Enforced, so it is the call's worst case. */
  totalMs: number;
}

/** Each Lambda's timeout (the stack's constructs set them from here). */
export const LAMBDA_TIMEOUT_MS = {
  // Twilio waits 15 s for an answer (WEBHOOK_DB_BUDGET.twilioWaitMs); the spool's SQS batches get longer.
  webhooks: 20_000,
  sender: 150_000,
  planner: 900_000,
  reconcile: 300_000,
  cleanup: 900_000,
  'daily-report': 60_000,
  migrate: 300_000,
} as const;

/** Room every invocation keeps below its timeout: for what no bound counts (answering, runtime, GC). */
export function marginMs(timeoutMs: number): number {
  return Math.max(1_000, timeoutMs * 0.05);
}

/**
 * The webhooks' database work, shared out so that a webhook the database cannot take in time (a row lock
 * held by an operator remove or the sender, a failover, a refused password, a connection that hangs) is kept
 * in the spool and answered 503 before Twilio stops waiting: Twilio waits 15 s and does not retry an
 * inbound text. The Lambda's pool takes its timeouts from here (src/wiring/webhooks.ts), the webhook
 * retries their budget (src/services/db-retry.ts).
 */
export const WEBHOOK_DB_BUDGET = {
  /** How long Twilio waits for an answer to a webhook. */
  twilioWaitMs: 15_000,
  /** Retries start only within this long of the first attempt (WEBHOOK_RETRY). */
  retryMs: 3_000,
  /** Opening one connection (pg's connectionTimeoutMillis). */
  connectMs: 1_500,
  /** One statement, lock waits included (statement_timeout: Postgres cancels it). */
  statementMs: 3_500,
  /**
   * One statement as the client waits for it (pg's query_timeout): past it the connection is dropped. Longer
   * than statementMs, so a slow statement is cancelled by Postgres; this one ends a connection that hangs.
   */
  queryMs: 4_000,
  /** One lock wait (lock_timeout): shorter than a statement, so a held row lock leaves time to retry. */
  lockMs: 2_000,
  /** Left after the database: keeping the webhook (SQS SendMessage) or removing schedules (DeleteSchedule). */
  keepMs: 2_000,
  /**
   * The retry budget of a webhook applied from the spool: shorter, as SQS delivers it again, but long enough
   * to retry once on a fresh connection (what recovers a commit whose answer was lost, by reply token).
   */
  spooledRetryMs: 1_000,
} as const;

/** Postgres as one Lambda's pool sees it. `queryMs` is the client's own bound (see WEBHOOK_DB_BUDGET). */
export interface DbBound {
  connectMs: number;
  statementMs: number;
  queryMs: number;
  lockMs?: number;
}

export const DB_BOUNDS = {
  webhooks: {
    connectMs: WEBHOOK_DB_BUDGET.connectMs,
    statementMs: WEBHOOK_DB_BUDGET.statementMs,
    queryMs: WEBHOOK_DB_BUDGET.queryMs,
    lockMs: WEBHOOK_DB_BUDGET.lockMs,
  },
  // Point reads and writes of one delivery; a send has ~20 of them (SENDER_STATEMENTS).
  sender: { connectMs: 2_000, statementMs: 3_500, queryMs: 4_000 },
  // The plan phase's bulk statements take seconds under load (docs/planner.md).
  planner: { connectMs: 5_000, statementMs: 120_000, queryMs: 121_000 },
  reconcile: { connectMs: 2_000, statementMs: 5_000, queryMs: 5_500 },
  // Bounded batches of deletes; a large backlog is worked off over several nights.
  cleanup: { connectMs: 5_000, statementMs: 30_000, queryMs: 31_000 },
  'daily-report': { connectMs: 2_000, statementMs: 8_000, queryMs: 8_500 },
  // A migration may rewrite a table. Its lock waits are bounded apart (MIGRATION_LOCKS).
  migrate: { connectMs: 5_000, statementMs: 260_000, queryMs: 261_000 },
} as const satisfies Record<keyof typeof LAMBDA_TIMEOUT_MS, DbBound>;

/** How long a migration waits for each lock, and how often a run stopped by such a wait is tried. */
export interface MigrationLockBounds {
  /** One lock wait (lock_timeout, set for the migration's transaction only). */
  lockMs: number;
  /** Runs in all, the first included. */
  attempts: number;
  /** The pause after the first stopped run; it doubles after each one. */
  backoffMs: number;
}

/**
 * A migration's ALTER TABLE, CREATE INDEX or DROP TRIGGER waits behind any open transaction that touched its
 * table (a session idle in transaction, a long report, the planner's batch), and every later statement on
 * that table queues behind its request. Bounded at the webhooks' own lock wait, a webhook waits no longer
 * behind a migration than behind a held row: the migration gives up first, rolls back, and tries again
 * after a pause, in case the holder was short-lived (src/db/migrator.ts). No statement_timeout of its own:
 * an index build on a big table may take minutes (DB_BOUNDS.migrate).
 */
export const MIGRATION_LOCKS: MigrationLockBounds = {
  lockMs: WEBHOOK_DB_BUDGET.lockMs,
  attempts: 4,
  backoffMs: 1_000,
};

/** What a migration run blocked throughout spends before it gives up: every wait and every pause. */
function migrationLockWaitsMs(bounds: MigrationLockBounds = MIGRATION_LOCKS): number {
  return bounds.attempts * bounds.lockMs + bounds.backoffMs * (2 ** (bounds.attempts - 1) - 1);
}

/** An AWS call inside a request that answers a person or Twilio: one quick retry at most. */
const IN_REQUEST_AWS: CallBound = { connectMs: 500, attemptMs: 900, attempts: 2, totalMs: 2_000 };

/**
 * Secrets Manager GetSecretValue: every Lambda at its cold start, then whenever the cache expires
 * (SECRETS_MAX_AGE_SECONDS) or a provider refuses a value — inside a request, before the call that needs it.
 */
export const SECRETS_READ: CallBound = { connectMs: 500, attemptMs: 800, attempts: 2, totalMs: 1_000 };

/** The AWS calls each Lambda makes, besides SECRETS_READ. */
export const AWS_CALLS = {
  /** SQS SendMessage of a webhook the database could not take: it must fit WEBHOOK_DB_BUDGET.keepMs. */
  spoolKeep: { ...IN_REQUEST_AWS, totalMs: WEBHOOK_DB_BUDGET.keepMs },
  /** DeleteSchedule after an opt-out or a test send (webhooks, sender): likewise after the database. */
  scheduleCancel: { ...IN_REQUEST_AWS, totalMs: WEBHOOK_DB_BUDGET.keepMs },
  /** The webhooks Lambda starting a test send: an asynchronous Invoke of the sender. */
  sendStart: IN_REQUEST_AWS,
  /** The planner's CreateSchedule, one send (the adapter retries throttling around it: SCHEDULE_CREATE). */
  scheduleCreate: { connectMs: 1_000, attemptMs: 2_000, attempts: 2, totalMs: 4_000 },
  /** The planner starting its next run: an asynchronous Invoke of itself. */
  plannerContinuation: { connectMs: 1_000, attemptMs: 2_000, attempts: 2, totalMs: 4_000 },
} as const satisfies Record<string, CallBound>;

/** The Scheduler adapter's own retries of a throttled CreateSchedule (src/adapters/eventbridge-scheduler.ts). */
export const SCHEDULE_CREATE = {
  maxAttempts: 8,
  /** No retry starts later than this after the first attempt. */
  retryBudgetMs: 12_000,
} as const;

/** The longest one schedule() takes: the last retry starts within the budget and takes one whole send. */
const scheduleCreateWorstMs = SCHEDULE_CREATE.retryBudgetMs + AWS_CALLS.scheduleCreate.totalMs;

/** Twilio's REST API over fetch (src/adapters/twilio-api.ts): one AbortSignal bounds each request. */
export interface TwilioSendBound {
  /** One request, connecting included. */
  attemptMs: number;
  /** Retries (only of what Twilio provably did not process) start within this long of the first attempt. */
  retryWindowMs: number;
  maxRetries: number;
}

/** Twilio reads: a number of retries of a 429, each after its back-off or Retry-After, whichever is longer. */
export interface TwilioReadBound {
  attemptMs: number;
  maxRetries: number;
  /** Longest wait between attempts: the back-off's cap, and the longest Retry-After honoured (longer ends the retries). */
  maxWaitMs: number;
}

export const TWILIO_CALLS = {
  /** Texts from the webhooks Lambda: the double opt-in request, and the reply to a text kept in the spool. */
  webhooksSend: { attemptMs: 2_500, retryWindowMs: 1_000, maxRetries: 1 },
  /** The daily message. Its validity period ends with the send window; a timeout is never retried. */
  senderSend: { attemptMs: 5_000, retryWindowMs: 10_000, maxRetries: 4 },
  /** Reconciliation's reads (fetch by SID, list by number): the next night's run asks again. */
  reconcileRead: { attemptMs: 4_000, maxRetries: 1, maxWaitMs: 4_000 },
} as const satisfies Record<string, TwilioSendBound | TwilioReadBound>;

/**
 * One Twilio call of the adapters, worst case: its attempts and the waits between them, and when Twilio
 * refuses the auth token one re-read of the secret and one more attempt (withFreshCredentials).
 */
function twilioWorstMs(bound: TwilioSendBound | TwilioReadBound): number {
  const refused = SECRETS_READ.totalMs + bound.attemptMs;
  if ('retryWindowMs' in bound) return bound.retryWindowMs + bound.attemptMs + refused;
  return (bound.maxRetries + 1) * bound.attemptMs + bound.maxRetries * bound.maxWaitMs + refused;
}

/** OpenAI (src/adapters/openai-writer.ts): every call ends by the writer's deadline. */
export const OPENAI_CALLS = {
  /** One HTTP call (the SDK's timeout; its own retries are off: the writer retries within the deadline). */
  requestMs: 8_000,
  /** The writer's deadline: past it the curated library writes the message. */
  writeMs: 20_000,
} as const;

/** Redis for the rate limiter (not deployed by the stack; npm start and self-hosting). */
export const REDIS_CALLS = {
  connectMs: 2_000,
  commandMs: 500,
  /** How long a cold start waits for Redis before the next store in the chain answers. */
  readyMs: 1_000,
} as const;

/** The sender's longest wait for a turn on the global sms_per_second pace; past it the send is skipped (late). */
export const SENDER_PACE_WAIT_MS = 10_000;

/** Each of the egress probe's HEAD requests (lib/constructs/egress-probe.ts, in parallel). */
export const EGRESS_PROBE_TIMEOUT_MS = 5_000;

/**
 * Stop starting new work this long before a scheduled Lambda's timeout (deadlineFrom): what is in flight
 * at the deadline, and what follows it, fit in here.
 */
export const DEADLINE_MARGIN_MS = {
  planner: 30_000,
  reconcile: 90_000,
  cleanup: 90_000,
} as const;

/** A statement on a pool that may have to open its connection first. */
const statement = (db: DbBound) => db.connectMs + db.queryMs;

/**
 * A webhook (inbound text or status callback) from Twilio's request to the answer: the Twilio auth token read
 * when its cache expired (the signature), the database work (the last retry starts within retryMs, may
 * connect twice with a re-read of the database password between, and runs one statement), then keeping it
 * (SQS) or, once it committed, removing the schedules an opt-out cancelled (DeleteSchedule, in parallel).
 */
export function webhookWorstCaseMs(budget = WEBHOOK_DB_BUDGET): number {
  const database = budget.retryMs + 2 * budget.connectMs + SECRETS_READ.totalMs + budget.queryMs;
  const after = Math.max(AWS_CALLS.spoolKeep.totalMs, AWS_CALLS.scheduleCancel.totalMs);
  return SECRETS_READ.totalMs + database + after;
}

/**
 * One webhook kept in the spool, applied from an SQS batch: its database work (a shorter retry budget: SQS
 * delivers it again), the schedules an opt-out cancelled, and the reply a live request would have carried.
 * The consumer starts one only while this much of the invocation is left (src/wiring/webhooks.ts).
 */
export function spooledWebhookWorstCaseMs(budget = WEBHOOK_DB_BUDGET): number {
  const database = budget.spooledRetryMs + 2 * budget.connectMs + SECRETS_READ.totalMs + budget.queryMs;
  return database + AWS_CALLS.scheduleCancel.totalMs + twilioWorstMs(TWILIO_CALLS.webhooksSend);
}

/** Statements of one send, on its longest path (src/services/send-daily-message.ts). */
const SENDER_STATEMENTS = {
  /** Claim; eligibility (subscriber, texts that day, quota, usage, the day's limiter point); recent bodies. */
  beforeWriting: 7,
  /** Limiter statements the writer may start just before its deadline (turn, token reservation, settle). */
  writerOverrun: 3,
  /** The opt-out re-check, the pace turn's last try, the attempt recorded before Twilio hears of it. */
  beforeSending: 3,
  /** After Twilio: the record transaction (BEGIN, sent, usage, quota, COMMIT) or, after a 21610, the opt-out one. */
  after: 5,
  /** After a 21610: the day's limiter point given back (read, reward). */
  refund: 2,
} as const;

/**
 * One send from its schedule's invocation to its record, every call at its bound: the cold start's secrets,
 * the statements before writing, the writer (its deadline, the limiter statements started just before it,
 * and re-reads of the OpenAI key), the pace turn, Twilio, then the longer of recording the send (retried on
 * a fresh connection within the webhook retry budget) and the 21610 opt-out (transaction, DeleteSchedule,
 * limiter refund).
 */
export function senderWorstCaseMs(): number {
  const db = DB_BOUNDS.sender;
  const q = db.queryMs;
  const before = SECRETS_READ.totalMs + db.connectMs + SENDER_STATEMENTS.beforeWriting * q;
  const writing = OPENAI_CALLS.writeMs + SENDER_STATEMENTS.writerOverrun * q + 2 * SECRETS_READ.totalMs;
  const sending =
    SENDER_PACE_WAIT_MS + SENDER_STATEMENTS.beforeSending * q + twilioWorstMs(TWILIO_CALLS.senderSend);
  const record = WEBHOOK_DB_BUDGET.retryMs + db.connectMs + SENDER_STATEMENTS.after * q;
  const optOut =
    SENDER_STATEMENTS.after * q + AWS_CALLS.scheduleCancel.totalMs + SENDER_STATEMENTS.refund * q;
  return before + writing + sending + Math.max(record, optOut);
}

/**
 * What a scheduled Lambda may still spend once its deadline has passed: the work in flight and what ends the
 * run. Reconcile: one delivery (a Twilio read, then its transaction: BEGIN, lock, status, cost, usage,
 * quota, COMMIT). Cleanup: one batch, then the database size. Planner: the schedule calls in flight, then the continuation's Invoke — its statements are not
 * counted (see the planner entry in docs/resilience.md).
 */
export function afterDeadlineWorstCaseMs(name: keyof typeof DEADLINE_MARGIN_MS): number {
  if (name === 'reconcile')
    return (
      twilioWorstMs(TWILIO_CALLS.reconcileRead) +
      DB_BOUNDS.reconcile.connectMs +
      7 * DB_BOUNDS.reconcile.queryMs
    );
  if (name === 'cleanup') return statement(DB_BOUNDS.cleanup) + DB_BOUNDS.cleanup.queryMs;
  return scheduleCreateWorstMs + AWS_CALLS.plannerContinuation.totalMs;
}

/**
 * The most planned deliveries one subscriber can have: one per local date (a unique key), and a planner run
 * plans at most this many dates at the longest horizon (PLANNER_HORIZON_HOURS ≤ 72, datesToPlan). A pause,
 * a zone change or a removal cancels at most this many, and removes their schedules in parallel: the
 * Scheduler adapter lets 20 calls run at once, and a cancel is one attempt (no throttle retry).
 */
export const MAX_PLANNED_PER_SUBSCRIBER = 8;
/** Calls the Scheduler adapter runs at once (src/adapters/eventbridge-scheduler.ts, maxConcurrency). */
export const SCHEDULER_CONCURRENCY = 20;

/** The outside calls an operator route may make, each at its worst. */
const OPERATOR_CALL_MS = {
  /** The double opt-in text (its retries, and a refused token's re-read and retry). */
  optInText: twilioWorstMs(TWILIO_CALLS.webhooksSend),
  /** DeleteSchedule of every delivery the request cancelled, in waves of SCHEDULER_CONCURRENCY. */
  scheduleRemoval:
    Math.ceil(MAX_PLANNED_PER_SUBSCRIBER / SCHEDULER_CONCURRENCY) * AWS_CALLS.scheduleCancel.totalMs,
  /** The asynchronous Invoke that hands a test send to the sender. */
  sendStart: AWS_CALLS.sendStart.totalMs,
} as const;

/**
 * The daily report's statements (src/services/daily-report.ts, src/db/repositories/reports.ts): outcomes,
 * skips, consent, usage, and the replaced drafts' two (their reasons, and how many ended curated). The
 * daily-report Lambda and GET /api/usage run them.
 */
const DAILY_REPORT_QUERIES = 6;

/** What one operator API request does on its longest path (src/http/routes, src/services). */
export interface OperatorRoute {
  /** Database statements one after another, BEGIN and COMMIT included (the rate limiter's is counted apart). */
  statements: number;
  /** Outside calls one after another. */
  calls: readonly (keyof typeof OPERATOR_CALL_MS)[];
}

/**
 * Every /api route (src/http/routes/subscribers.ts, operations.ts), counted from the code: a change that
 * adds a statement or an outside call to a route changes its entry. The request's deadline keeps a route
 * within the timeout whatever its count; the count says which routes need it.
 */
export const OPERATOR_ROUTES = {
  'GET /api/subscribers': { statements: 1, calls: [] },
  // BEGIN, insert, consent event, COMMIT, [the opt-in text], and when the text is refused the sign-up's
  // undo (a conflict reads the row and sends nothing).
  'POST /api/subscribers': { statements: 5, calls: ['optInText'] },
  'GET /api/subscribers/:phone': { statements: 2, calls: [] },
  // BEGIN, read and lock, update, lock planned, re-stamp, cancel, COMMIT; then the schedules removed.
  'PATCH /api/subscribers/:phone': { statements: 7, calls: ['scheduleRemoval'] },
  // BEGIN, read, opt_out_subscriber, erase bodies, read, COMMIT; then the schedules removed.
  'DELETE /api/subscribers/:phone': { statements: 6, calls: ['scheduleRemoval'] },
  // Read; BEGIN, lock the day's delivery, insert or move it, COMMIT; old schedule removed; Invoke; the view.
  'POST /api/subscribers/:phone/send-now': { statements: 6, calls: ['scheduleRemoval', 'sendStart'] },
  'GET /api/deliveries': { statements: 1, calls: [] },
  'GET /api/deliveries/:id': { statements: 1, calls: [] },
  // The daily report's queries (in parallel on a pool of two: counted one after another).
  'GET /api/usage': { statements: DAILY_REPORT_QUERIES, calls: [] },
  'GET /api/capacity': { statements: 0, calls: [] },
} as const satisfies Record<string, OperatorRoute>;

export type OperatorRouteName = keyof typeof OPERATOR_ROUTES;

/**
 * What every /api request does before its route (src/http/api-auth.ts, src/db/connection.ts), at most. Secret
 * reads: the API token's, one on a request it lets in (its cache expired, or the token does not match the
 * cached one: a rotation; a token that matches neither is refused after two reads, before the database),
 * and the database password's, two (its cache expired, and again when Postgres refuses it). The pool's
 * connection opened, and again after that re-read. The per-token rate limiter's statement.
 */
export const OPERATOR_PRELUDE = {
  secretReads: 3,
  connectionOpens: 2,
  limiterStatements: 1,
} as const;

/** What the prelude spends, every call at its bound. */
export function operatorPreludeMs(db: DbBound = DB_BOUNDS.webhooks): number {
  const p = OPERATOR_PRELUDE;
  const opens = p.connectionOpens * db.connectMs;
  return p.secretReads * SECRETS_READ.totalMs + opens + p.limiterStatements * db.queryMs;
}

/**
 * The operator API's deadline (src/http/api-deadline.ts): a request starts no statement and no outside call
 * that could end after it, so one stopped by its bounds rolls back and answers 503 instead of being cut off
 * by the Lambda's timeout halfway. It is set this long (plus the margin) before the invocation's end.
 */
export const OPERATOR_API_BUDGET = {
  /**
   * What may still run once the deadline has passed: the COMMIT or ROLLBACK of the transaction in flight
   * (or a sign-up's undo after its text failed), then the removal of the schedules it cancelled (or, for a
   * test send, the view read after the Invoke).
   */
  finishMs: DB_BOUNDS.webhooks.queryMs + OPERATOR_CALL_MS.scheduleRemoval,
  /** What the gates ask of the time left before starting a call. */
  needs: {
    statementMs: DB_BOUNDS.webhooks.queryMs,
    openMs: 2 * DB_BOUNDS.webhooks.connectMs + SECRETS_READ.totalMs,
    optInTextMs: OPERATOR_CALL_MS.optInText,
    /**
     * A sign-up about to commit: the COMMIT and the opt-in text after it must both end by the deadline, or
     * it rolls back (nothing saved, nothing sent). The undo of a text that failed is what may finish after.
     */
    commitAndTextMs: DB_BOUNDS.webhooks.queryMs + OPERATOR_CALL_MS.optInText,
    sendStartMs: OPERATOR_CALL_MS.sendStart,
    /**
     * A test send whose reservation is about to commit: the COMMIT, the old schedule's removal and the
     * Invoke must all end by the deadline, or the reservation rolls back (nothing moved, nothing sent).
     */
    handOverMs: DB_BOUNDS.webhooks.queryMs + AWS_CALLS.scheduleCancel.totalMs + OPERATOR_CALL_MS.sendStart,
  },
} as const;

/** When a request that arrives with `remainingMs` of its invocation left stops starting calls, from its arrival. */
export function operatorDeadlineMs(remainingMs: number = LAMBDA_TIMEOUT_MS.webhooks): number {
  return remainingMs - marginMs(LAMBDA_TIMEOUT_MS.webhooks) - OPERATOR_API_BUDGET.finishMs;
}

/** One operator request with every statement and call at its bound, ignoring the deadline. */
function operatorRouteUnboundedMs(name: OperatorRouteName): number {
  const route: OperatorRoute = OPERATOR_ROUTES[name];
  const calls = route.calls.reduce((sum, call) => sum + OPERATOR_CALL_MS[call], 0);
  return operatorPreludeMs() + route.statements * DB_BOUNDS.webhooks.queryMs + calls;
}

/**
 * One operator request from its arrival to its answer: every statement and call at its bound, but none
 * started past the deadline (the prelude, which is not gated, must end before it), then what may finish.
 */
export function operatorRouteWorstCaseMs(name: OperatorRouteName): number {
  const bounded = Math.max(operatorPreludeMs(), operatorDeadlineMs()) + OPERATOR_API_BUDGET.finishMs;
  return Math.min(operatorRouteUnboundedMs(name), bounded);
}

/** Daily report: its secrets and its queries, one after another on its one connection. */
export function dailyReportWorstCaseMs(): number {
  const db = DB_BOUNDS['daily-report'];
  return SECRETS_READ.totalMs + db.connectMs + DAILY_REPORT_QUERIES * db.queryMs;
}

/**
 * Migrate: its secrets, the longest statement a migration may run (each statement has this bound), and the
 * lock waits and pauses of the runs a held table stopped before it.
 */
export function migrateWorstCaseMs(): number {
  return SECRETS_READ.totalMs + statement(DB_BOUNDS.migrate) + migrationLockWaitsMs();
}
