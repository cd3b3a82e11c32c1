/**
 * Retry delays: exponential, capped, with jitter so that workers that failed together do not
 * retry together. python-task-queue's poll loop clamped its window with
 * `min(tries, min_backoff_window)`, so its backoff never grew past ~2 s; here the cap is explicit
 * and the arithmetic is unit-tested (backoff.test.ts).
 */
export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  baseMs: number;
  /** Upper bound, ms. */
  maxMs: number;
  /** Fraction of the delay that is random: 0 = none, 1 = "full jitter" (0..delay). */
  jitter: number;
}

export const TASK_RETRY: BackoffOptions = { baseMs: 2_000, maxMs: 120_000, jitter: 0.5 };
export const IDLE_POLL: BackoffOptions = { baseMs: 200, maxMs: 2_000, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (1 = first retry): base × 2^(attempt−1), capped at max,
 * then reduced by a random share of up to `jitter` of itself. `random` is injectable for tests.
 */
export function backoffMs(
  attempt: number,
  opts: BackoffOptions = TASK_RETRY,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n - 1, 52));
  const jitter = Math.min(1, Math.max(0, opts.jitter));
  return Math.round(exp * (1 - jitter * random()));
}
