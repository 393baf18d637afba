// How many Postgres connections each Lambda's pool may open, per container. One definition: the Lambdas
// size their pools with it (src/wiring/database.ts) and the capacity arithmetic (src/domain/capacity.ts)
// multiplies it by each function's concurrency to check the database's max_connections at synth.

/**
 * Per container, so a function's worst case is its concurrency times this. The sender and webhooks share
 * their pool with the Postgres rate limiter (src/wiring/limiter.ts). Raising one raises the worst case the
 * stack refuses above half of the instance's max_connections.
 */
export const DB_POOL_SIZE = {
  sender: 2,
  webhooks: 2,
  planner: 2,
  // The migration's connection, and one that watches its lock waits to name who held a table it gave up on.
  migrate: 2,
  cleanup: 1,
  reconcile: 1,
  'daily-report': 1,
} as const; // src/wiring/database.ts indexes it by LambdaName: a Lambda missing here fails the typecheck.
