// Polling for what arrives asynchronously (outbox callbacks, in-process schedules) in end-to-end tests.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads until `done` holds and returns that value. After `ms` it throws, naming `what` it waited for and
 * the last value read, so a test fails at the wait that timed out rather than at a later assertion.
 */
export async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  { ms = 10_000, everyMs = 50 }: { ms?: number; everyMs?: number } = {},
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() >= until) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last read: ${JSON.stringify(value)}`);
    }
    await sleep(everyMs);
  }
}
