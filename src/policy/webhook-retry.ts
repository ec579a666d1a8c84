// When a failed webhook delivery is tried again: exponential backoff (30 s, 1 min, 2 min, … capped
// at 4 h) for 24 hours after the event, with a last attempt at the 24-hour mark; after that the
// delivery has failed for good. Pure: times are epoch milliseconds.

export const RETRY_WINDOW_MS = 24 * 3600_000;
export const FIRST_DELAY_MS = 30_000;
export const MAX_DELAY_MS = 4 * 3600_000;

/** The wait after the `attempts`-th failed attempt (1-based). */
export function retryDelay(attempts: number): number {
  return Math.min(FIRST_DELAY_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)), MAX_DELAY_MS);
}

/**
 * When to try again after `attempts` failed attempts, the last one finished at `lastAt`, for an
 * event created at `createdAt`; undefined: the 24 hours are over, the delivery has failed.
 */
export function nextAttemptAt(createdAt: number, attempts: number, lastAt: number): number | undefined {
  const deadline = createdAt + RETRY_WINDOW_MS;
  if (lastAt >= deadline) return undefined;
  return Math.min(lastAt + retryDelay(attempts), deadline);
}
