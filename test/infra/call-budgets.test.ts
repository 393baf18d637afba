// Every Lambda's outside calls, each at its bound, fit inside the timeout the stack deploys it with: a call
// still waiting when the timeout hits is lost with what follows it (a webhook not kept, a reply, a send not
// recorded). The bounds are the ones the wiring sets (src/domain/call-budgets.ts); docs/resilience.md.
import { describe, expect, it } from 'vitest';
import { EGRESS_PROBE_SOURCE } from '../../lib/constructs/egress-probe.js';
import {
  AWS_CALLS,
  afterDeadlineWorstCaseMs,
  DB_BOUNDS,
  DEADLINE_MARGIN_MS,
  dailyReportWorstCaseMs,
  EGRESS_PROBE_TIMEOUT_MS,
  LAMBDA_TIMEOUT_MS,
  MAX_PLANNED_PER_SUBSCRIBER,
  MIGRATION_LOCKS,
  marginMs,
  migrateWorstCaseMs,
  OPERATOR_API_BUDGET,
  OPERATOR_ROUTES,
  type OperatorRouteName,
  operatorDeadlineMs,
  operatorPreludeMs,
  operatorRouteWorstCaseMs,
  SCHEDULER_CONCURRENCY,
  senderWorstCaseMs,
  spooledWebhookWorstCaseMs,
  WEBHOOK_DB_BUDGET,
  webhookWorstCaseMs,
} from '../../src/domain/call-budgets.js';
import { datesToPlan } from '../../src/domain/planning-horizon.js';
import { logicalId, resources, synthesize } from './support.js';

const template = synthesize().template();
const functions = resources(template, 'AWS::Lambda::Function');

/** The deployed timeout, in ms, of the one function whose logical id starts with `prefix`. */
function timeoutOf(prefix: string): number {
  const fn = functions[logicalId(template, 'AWS::Lambda::Function', prefix)];
  return Number(fn?.Properties?.Timeout) * 1000;
}

/** API Gateway HTTP API's integration timeout, at most (and by default). */
const HTTP_API_INTEGRATION_MAX_MS = 30_000;

const DEPLOYED = {
  webhooks: 'WebhooksFunction',
  sender: 'SenderFunction',
  planner: 'PlannerFunction',
  reconcile: 'JobsReconcileFunction',
  cleanup: 'JobsCleanupFunction',
  'daily-report': 'JobsDailyReportFunction',
  migrate: 'MigrationsMigrateFunction',
} as const;

describe('outside-call budgets against the synthesized stack', () => {
  it.each(Object.entries(DEPLOYED))(
    'deploys %s with the timeout the budgets are counted against',
    (name, id) => {
      expect(timeoutOf(id)).toBe(LAMBDA_TIMEOUT_MS[name as keyof typeof LAMBDA_TIMEOUT_MS]);
    },
  );

  it('answers a Twilio webhook before Twilio stops waiting, its database work and the keep included', () => {
    // Twilio waits 15 s whatever the Lambda's timeout; a webhook answered later is lost (no retry).
    expect(WEBHOOK_DB_BUDGET.twilioWaitMs).toBeLessThanOrEqual(timeoutOf(DEPLOYED.webhooks));
    expect(webhookWorstCaseMs()).toBeLessThanOrEqual(
      WEBHOOK_DB_BUDGET.twilioWaitMs - marginMs(WEBHOOK_DB_BUDGET.twilioWaitMs),
    );
    // A held row lock fails one attempt, not the whole request: there is time for another after it.
    expect(WEBHOOK_DB_BUDGET.lockMs).toBeLessThan(WEBHOOK_DB_BUDGET.statementMs);
    expect(WEBHOOK_DB_BUDGET.lockMs).toBeLessThan(WEBHOOK_DB_BUDGET.retryMs);
    // Postgres cancels a slow statement before the client gives up on its connection.
    expect(WEBHOOK_DB_BUDGET.statementMs).toBeLessThan(WEBHOOK_DB_BUDGET.queryMs);
  });

  it('applies a webhook from the spool, with its reply, inside one invocation of the webhooks Lambda', () => {
    const timeout = timeoutOf(DEPLOYED.webhooks);
    expect(spooledWebhookWorstCaseMs()).toBeLessThanOrEqual(timeout - marginMs(timeout));
  });

  it.each(Object.keys(OPERATOR_ROUTES) as OperatorRouteName[])(
    'answers the operator API’s %s inside one invocation of the webhooks Lambda',
    (route) => {
      // Past the timeout the operator gets API Gateway's bare 503 (or a 500) with the work half done.
      const timeout = timeoutOf(DEPLOYED.webhooks);
      expect(timeout).toBeLessThan(HTTP_API_INTEGRATION_MAX_MS);
      expect(operatorRouteWorstCaseMs(route)).toBeLessThanOrEqual(timeout - marginMs(timeout));
    },
  );

  it('starts the operator API’s deadline after what every request does before it is gated', () => {
    // The token's secret and the limiter run before the route: they must leave it time to start anything.
    expect(operatorPreludeMs()).toBeLessThanOrEqual(operatorDeadlineMs());
    // A request arriving at a cold pool can open a connection and run a statement before the deadline.
    const { openMs, statementMs } = OPERATOR_API_BUDGET.needs;
    expect(openMs + statementMs).toBeLessThanOrEqual(operatorDeadlineMs());
    // A test send's view, read after the Invoke ended by the deadline, and the undo of a sign-up whose
    // text failed (one statement, like a ROLLBACK) fit in what may finish after it.
    expect(DB_BOUNDS.webhooks.queryMs).toBeLessThanOrEqual(OPERATOR_API_BUDGET.finishMs);
    // A test send commits its reservation only with time for the COMMIT, the old schedule's removal and
    // the Invoke; a warm request has that time, or no send-now could ever be handed over.
    const { handOverMs, sendStartMs } = OPERATOR_API_BUDGET.needs;
    expect(handOverMs).toBe(DB_BOUNDS.webhooks.queryMs + AWS_CALLS.scheduleCancel.totalMs + sendStartMs);
    expect(statementMs + handOverMs).toBeLessThanOrEqual(operatorDeadlineMs());
    // A sign-up commits only with time for the COMMIT and the opt-in text; a warm request has it.
    const { commitAndTextMs, optInTextMs } = OPERATOR_API_BUDGET.needs;
    expect(commitAndTextMs).toBe(DB_BOUNDS.webhooks.queryMs + optInTextMs);
    expect(commitAndTextMs).toBeLessThanOrEqual(operatorDeadlineMs());
  });

  it('counts every planned delivery a removal can cancel as one wave of schedule removals', () => {
    // One delivery per subscriber per local date; the longest horizon a planner run may look ahead.
    const window = { startMinute: 0, endMinute: 24 * 60 };
    const most = Math.max(
      ...Array.from(
        { length: 48 },
        (_, h) =>
          datesToPlan(new Date(Date.UTC(2026, 0, 1, h)), {
            window,
            horizonHours: 72,
          }).length,
      ),
    );
    expect(most).toBeLessThanOrEqual(MAX_PLANNED_PER_SUBSCRIBER);
    expect(MAX_PLANNED_PER_SUBSCRIBER).toBeLessThanOrEqual(SCHEDULER_CONCURRENCY);
  });

  it('sends and records one message inside one invocation of the sender', () => {
    const timeout = timeoutOf(DEPLOYED.sender);
    expect(senderWorstCaseMs()).toBeLessThanOrEqual(timeout - marginMs(timeout));
  });

  it.each(['planner', 'reconcile', 'cleanup'] as const)(
    '%s: what is in flight at the deadline, and what ends the run, fits in the time it keeps',
    (name) => {
      const timeout = timeoutOf(DEPLOYED[name]);
      const margin = DEADLINE_MARGIN_MS[name];
      expect(afterDeadlineWorstCaseMs(name)).toBeLessThanOrEqual(margin - marginMs(margin));
      expect(margin).toBeLessThan(timeout / 2);
    },
  );

  it('runs the daily report and a migration statement inside their timeouts', () => {
    const report = timeoutOf(DEPLOYED['daily-report']);
    expect(dailyReportWorstCaseMs()).toBeLessThanOrEqual(report - marginMs(report));
    const migrate = timeoutOf(DEPLOYED.migrate);
    expect(migrateWorstCaseMs()).toBeLessThanOrEqual(migrate - marginMs(migrate));
  });

  it("holds the live Lambdas' statements behind a waiting migration no longer than behind a held row", () => {
    // A webhook queued behind the migration's lock request gets it when the migration gives up, before its
    // own lock wait ends; the sender's statements have no lock wait of their own, only statement_timeout.
    expect(MIGRATION_LOCKS.lockMs).toBeLessThanOrEqual(WEBHOOK_DB_BUDGET.lockMs);
    expect(MIGRATION_LOCKS.lockMs).toBeLessThan(DB_BOUNDS.sender.statementMs);
    expect(MIGRATION_LOCKS.attempts).toBeGreaterThan(1);
  });

  it('lets the migrate function time out before the deploy trigger that waits for it', () => {
    const provider = functions[logicalId(template, 'AWS::Lambda::Function', 'AWSCDKTrigger')];
    expect(Number(provider?.Properties?.Timeout) * 1000).toBeGreaterThan(LAMBDA_TIMEOUT_MS.migrate);
  });

  it('bounds the egress probe’s requests (in parallel) inside its own timeout', () => {
    const probe = functions[logicalId(template, 'AWS::Lambda::Function', 'EgressProbeFunction')];
    const env = (probe?.Properties?.Environment as { Variables?: Record<string, string> } | undefined)
      ?.Variables;
    expect(env).toBeDefined();
    expect(Number(env?.PROBE_TIMEOUT_MS)).toBe(EGRESS_PROBE_TIMEOUT_MS);
    expect(EGRESS_PROBE_SOURCE).toContain('AbortSignal.timeout(timeoutMs)');
    const timeout = Number(probe?.Properties?.Timeout) * 1000;
    expect(EGRESS_PROBE_TIMEOUT_MS).toBeLessThanOrEqual(timeout - marginMs(timeout));
  });
});
