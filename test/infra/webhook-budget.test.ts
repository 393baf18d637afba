// The webhooks Lambda's database work fits inside its timeout with time left to keep the webhook: a request
// still waiting on Postgres when the Lambda is stopped would be lost (docs/resilience.md).
import { describe, expect, it } from 'vitest';
import { WEBHOOK_DB_BUDGET, webhookWorstCaseMs } from '../../src/domain/webhook-budget.js';
import { logicalId, resources, synthesize } from './support.js';

describe('the webhooks database budget', () => {
  it('keeps retries, connects, a statement and the spool write inside the deployed Lambda timeout', () => {
    const template = synthesize().template();
    const fn = resources(template, 'AWS::Lambda::Function')[
      logicalId(template, 'AWS::Lambda::Function', 'WebhooksFunction')
    ];
    const timeoutMs = Number(fn?.Properties?.Timeout) * 1000;

    expect(timeoutMs).toBe(WEBHOOK_DB_BUDGET.lambdaTimeoutMs);
    expect(webhookWorstCaseMs()).toBeLessThanOrEqual(timeoutMs);
    // A held row lock fails one attempt, not the whole request: there is time for another after it.
    expect(WEBHOOK_DB_BUDGET.lockMs).toBeLessThan(WEBHOOK_DB_BUDGET.statementMs);
    expect(WEBHOOK_DB_BUDGET.lockMs).toBeLessThan(WEBHOOK_DB_BUDGET.retryMs);
  });
});
