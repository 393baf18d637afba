// reserve() for the in-test limiter doubles, built on their consume/waitForTurn/refund.
import type { BudgetName, LimitDecision, Reservation } from '../../src/services/ports.js';

interface Basic {
  consume(budget: BudgetName, key: string, points?: number): Promise<LimitDecision>;
  waitForTurn(budget: BudgetName, key: string, deadline: Date, points?: number): Promise<LimitDecision>;
  refund(budget: BudgetName, key: string, points: number): Promise<void>;
}

export async function reserveVia(
  limiter: Basic,
  budget: BudgetName,
  key: string,
  estimate: number,
  deadline?: Date,
): Promise<Reservation> {
  const decision = deadline
    ? await limiter.waitForTurn(budget, key, deadline, estimate)
    : await limiter.consume(budget, key, estimate);
  if (!decision.allowed) return decision;
  let settled = false;
  return {
    allowed: true,
    remaining: decision.remaining,
    settle: async (actual: number) => {
      if (settled) return;
      settled = true;
      if (actual < estimate) await limiter.refund(budget, key, estimate - actual);
      else if (actual > estimate) await limiter.consume(budget, key, Math.ceil(actual - estimate));
    },
  };
}
