import { VoxportError } from "../errors.js";
import { abortedError, throwIfAborted } from "./abort.js";

/**
 * One retry loop for every storage driver (http, s3, gs, swift), after cloud-files' tenacity
 * decorator and neuroglancer's http_request.ts: exponential backoff with jitter, a per-attempt
 * time limit, a server's Retry-After honoured (capped), and the caller's AbortSignal obeyed
 * while waiting.
 *
 * The rule that keeps drivers simple: inside an attempt, a `VoxportError` is final (not found,
 * permission, bad argument: retrying cannot help, and a missing key must never use up retries);
 * anything else is a failed attempt: a `RetryableError` a driver throws for 429/5xx/SlowDown,
 * a network error (connection refused or reset, socket hang-up, body cut short), a timeout.
 *
 * Defaults can be changed for a whole process (worker threads included) with environment
 * variables: VOXPORT_STORAGE_ATTEMPTS, VOXPORT_STORAGE_RETRY_BASE_MS,
 * VOXPORT_STORAGE_RETRY_MAX_MS, VOXPORT_STORAGE_TIMEOUT_MS.
 */

export interface RetryPolicy {
  /** Total tries per operation, the first included. */
  attempts: number;
  /** Backoff before retry n is about baseDelayMs * 2^(n-1), with jitter. */
  baseDelayMs: number;
  /** Cap for a single backoff (and for a server's Retry-After). */
  maxDelayMs: number;
  /** Per-attempt time limit; a timed-out attempt is retried. */
  timeoutMs: number;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback;
}

/** The process-wide defaults (read from the environment on each call, so tests can set them). */
export function defaultRetryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return {
    attempts: Math.max(1, overrides.attempts ?? envInt("VOXPORT_STORAGE_ATTEMPTS", 8)),
    baseDelayMs: overrides.baseDelayMs ?? envInt("VOXPORT_STORAGE_RETRY_BASE_MS", 250),
    maxDelayMs: overrides.maxDelayMs ?? envInt("VOXPORT_STORAGE_RETRY_MAX_MS", 10_000),
    timeoutMs: overrides.timeoutMs ?? envInt("VOXPORT_STORAGE_TIMEOUT_MS", 120_000),
  };
}

/** Thrown inside an attempt to ask for another one (HTTP 429/5xx, throttling, short body). */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RetryableError";
  }
}

/** Bounds the requests in flight to one backend (one per store, or shared by a driver). */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter, so a burst cannot overtake it.
      if (next !== undefined) next();
      else this.active--;
    }
  }
}

/** Requests in flight per store unless a driver is told otherwise (VOXPORT_STORAGE_CONCURRENCY). */
export function defaultConcurrency(): number {
  return Math.max(1, envInt("VOXPORT_STORAGE_CONCURRENCY", 32));
}

export interface RetryOptions {
  signal?: AbortSignal;
  policy?: RetryPolicy;
  /** Each attempt (not the waits between them) holds one slot of this limiter. */
  limiter?: Limiter;
}

/**
 * Runs `attempt` until it succeeds, throws a VoxportError, or the attempts run out. `what` starts
 * every error message (e.g. "cannot read s3://bucket/key") and must not contain secrets.
 * `attempt` receives a signal that fires on the caller's abort or the per-attempt timeout.
 */
export async function withRetries<T>(
  what: string,
  attempt: (signal: AbortSignal, attemptNumber: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const { signal } = options;
  const policy = options.policy ?? defaultRetryPolicy();
  for (let n = 1; ; n++) {
    throwIfAborted(signal, what);
    const timeout = new AttemptSignal(signal, policy.timeoutMs);
    let hinted = 0;
    try {
      const run = () => attempt(timeout.signal, n);
      return await (options.limiter ? options.limiter.run(run) : run());
    } catch (e) {
      if (signal?.aborted) throw abortedError(signal, what);
      if (e instanceof VoxportError) throw e;
      const reason = timeout.timedOut
        ? `timed out after ${policy.timeoutMs} ms`
        : e instanceof RetryableError
          ? e.message
          : `network error: ${describeNetworkError(e)}`;
      if (n >= policy.attempts) {
        throw new VoxportError("STORAGE", `${what}: ${reason} (gave up after ${n} attempts)`, {
          cause: e,
        });
      }
      hinted = e instanceof RetryableError ? (e.retryAfterMs ?? 0) : 0;
    } finally {
      timeout.dispose();
    }
    const delay = Math.min(policy.maxDelayMs, Math.max(hinted, backoffMs(n, policy)));
    await sleep(delay, signal, what);
  }
}

/** Exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** The caller's signal plus a per-attempt timeout (AbortSignal.any needs Node 20.3+). */
export class AttemptSignal {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.controller.abort(this.outer?.reason);
  timedOut = false;

  constructor(
    private readonly outer: AbortSignal | undefined,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    if (outer?.aborted) this.controller.abort(outer.reason);
    else outer?.addEventListener("abort", this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener("abort", this.onAbort);
  }
}

/** Retry-After is either seconds or an HTTP date. */
export function retryAfterMs(header: string | null | undefined): number | undefined {
  if (header === null || header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A network error's code and message (undici wraps them as TypeError "fetch failed"). */
export function describeNetworkError(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" ? `${code} (${cause.message})` : cause.message;
  }
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" && !e.message.includes(code)
      ? `${code} (${e.message})`
      : e.message;
  }
  return String(e);
}

/** A statuses that mean "try again later": throttling and server-side failures (not 501). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501);
}

export function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal, what));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!, what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
