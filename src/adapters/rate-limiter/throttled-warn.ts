import { logger } from '../../logger.js';

/** A warning logged at most once per interval, with how many occurrences were not logged since. */
export function throttledWarn(message: string, context: Record<string, string>, intervalMs = 60_000) {
  let lastAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (extra: Record<string, unknown> = {}) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      suppressed += 1;
      return;
    }
    logger.warn(message, { ...context, ...extra, suppressedSinceLastLog: suppressed });
    lastAt = now;
    suppressed = 0;
  };
}
