// Brute-force backoff, as pure rules: after `lockAfter` failures a key is locked for `baseSeconds`;
// every further failure (each one is possible only once the lock before it ended) locks it for
// twice as long as the lock before, up to `maxSeconds`. A new lockout — the one the account hears
// about — is the first lock after a clean slate (the `lockAfter`-th failure).

export interface Backoff {
  /** Failures before the first lock. */
  lockAfter: number;
  /** The first lock, in seconds. */
  baseSeconds: number;
  /** No lock is longer. */
  maxSeconds: number;
}

/** Seconds the key is locked after its `failures`-th failure (0: not locked). */
export function lockSeconds(failures: number, b: Backoff): number {
  if (!Number.isFinite(failures) || failures < b.lockAfter) return 0;
  const doublings = Math.min(failures - b.lockAfter, 40);
  return Math.min(b.baseSeconds * 2 ** doublings, b.maxSeconds);
}

/** Whether the `failures`-th failure starts a lockout (the first lock since the count began). */
export const startsLockout = (failures: number, b: Backoff): boolean => failures === b.lockAfter;
