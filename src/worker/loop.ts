import { type ErrorCode, isVoxportError } from "../errors.js";
import { isDrained, type Lease, type Queue } from "../queue/queue.js";
import { backoffMs, IDLE_POLL, TASK_RETRY } from "./backoff.js";
import type { Handler, TaskOutcome } from "./handler.js";
import { LeaseKeeper } from "./lease-keeper.js";

/**
 * The queue worker loop (architecture.md §6.3 item 7, python-task-queue's `poll` done right):
 * lease as many tasks as there are free slots → run each through the handler while the lease
 * keeper renews their leases → complete (which releases parents) → lease more. Errors:
 *  - unrecoverable (bad input, unknown message, unsupported data: the codes in FATAL) go to the
 *    dead-letter list at once, with the error;
 *  - anything else is retried with exponential backoff and jitter, up to the queue's bound;
 *  - a task whose lease was lost meanwhile is dropped quietly (another worker has it; tasks are
 *    idempotent, so the duplicate run wrote the same bytes).
 * `stop()` (first SIGTERM/SIGINT) stops leasing and lets running tasks finish; `abort()`
 * (second signal) hands the held leases back at once. A SIGKILL loses nothing: the leases
 * expire and other workers take the tasks.
 */

export const FATAL: readonly ErrorCode[] = [
  "INVALID_SOURCE",
  "INVALID_INFO",
  "CODEC",
  "UNSUPPORTED",
  "INVALID_ARGUMENT",
];

export function isRetryable(e: unknown): boolean {
  return !(isVoxportError(e) && FATAL.includes(e.code));
}

export function describeError(e: unknown): string {
  if (isVoxportError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

export type WorkerEvent =
  | { type: "leased"; lease: Lease }
  | { type: "done"; lease: Lease; ms: number; outcome: TaskOutcome; released: string[] }
  | { type: "failed"; lease: Lease; ms: number; error: string; outcome: "retry" | "dead" | "lost" }
  | { type: "lost"; lease: Lease }
  | { type: "queue-error"; error: unknown }
  | { type: "idle" };

export interface WorkerLoopOptions {
  queue: Queue;
  handler: Handler;
  /** Tasks run at once (the thread pool's size). */
  concurrency: number;
  leaseMs: number;
  /** How long one lease call may wait for work when nothing runs. Default 5 s. */
  waitMs?: number;
  /** Return once the queue has nothing pending, delayed or leased anywhere. */
  exitWhenEmpty?: boolean;
  onEvent?(e: WorkerEvent): void;
}

export interface WorkerSummary {
  done: number;
  failed: number;
  dead: number;
  lost: number;
  stopped: "empty" | "stop" | "abort";
}

export class WorkerLoop {
  private stopping = false;
  private aborted = false;
  private readonly keeper: LeaseKeeper;
  private readonly running = new Set<Promise<void>>();
  private wake?: () => void;
  readonly summary: WorkerSummary = { done: 0, failed: 0, dead: 0, lost: 0, stopped: "stop" };

  constructor(private readonly o: WorkerLoopOptions) {
    this.keeper = new LeaseKeeper(o.queue, o.leaseMs, {
      onLost: (lease) => o.onEvent?.({ type: "lost", lease }),
      onError: (error) => o.onEvent?.({ type: "queue-error", error }),
    });
  }

  /** Stop leasing; running tasks finish and complete. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Stop now: hand every held lease back so other workers can take the tasks at once. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.stop();
    const held = this.keeper.leases();
    this.keeper.close();
    await Promise.allSettled(held.map((l) => this.o.queue.release(l)));
  }

  private async handle(lease: Lease): Promise<void> {
    const { queue, onEvent } = this.o;
    const started = performance.now();
    this.keeper.add(lease);
    onEvent?.({ type: "leased", lease });
    try {
      let outcome: TaskOutcome;
      try {
        outcome = await this.o.handler(lease);
      } catch (e) {
        if (this.aborted) return;
        if (this.keeper.isLost(lease)) {
          this.summary.lost++;
          return;
        }
        const error = describeError(e);
        const result = await queue.fail(lease, error, {
          retryable: isRetryable(e),
          delayMs: backoffMs(lease.attempt, TASK_RETRY),
        });
        if (result === "dead") this.summary.dead++;
        else if (result === "retry") this.summary.failed++;
        else this.summary.lost++;
        onEvent?.({
          type: "failed",
          lease,
          ms: performance.now() - started,
          error,
          outcome: result,
        });
        return;
      }
      if (this.aborted) return;
      // Lost while it ran (the lease keeper reported it) or found lost on completing: the
      // result is dropped.
      if (this.keeper.isLost(lease)) {
        this.summary.lost++;
        return;
      }
      const r = await queue.complete(lease, { parents: outcome.parents });
      if (!r.ok) {
        this.summary.lost++;
        onEvent?.({ type: "lost", lease });
        return;
      }
      this.summary.done++;
      onEvent?.({
        type: "done",
        lease,
        ms: performance.now() - started,
        outcome,
        released: r.released,
      });
    } catch (e) {
      // The queue itself failed (network, server gone): the lease will expire and the task
      // recirculate; keep the worker alive.
      onEvent?.({ type: "queue-error", error: e });
    } finally {
      this.keeper.remove(lease);
    }
  }

  /** Waits until a task finishes, stop() is called, or `ms` pass. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  async run(): Promise<WorkerSummary> {
    const { queue, concurrency, leaseMs } = this.o;
    const waitMs = this.o.waitMs ?? 5000;
    let idle = 0;
    let errors = 0;
    try {
      while (!this.stopping) {
        const free = concurrency - this.running.size;
        if (free <= 0) {
          await this.pause(60_000);
          continue;
        }
        let leases: Lease[];
        try {
          // Block on the queue only when nothing runs; otherwise look and come back.
          leases = await queue.lease(free, leaseMs, this.running.size ? 0 : waitMs);
          errors = 0;
        } catch (e) {
          this.o.onEvent?.({ type: "queue-error", error: e });
          await this.pause(backoffMs(++errors, IDLE_POLL));
          continue;
        }
        if (this.stopping) {
          await Promise.allSettled(leases.map((l) => queue.release(l)));
          break;
        }
        for (const lease of leases) {
          const p: Promise<void> = this.handle(lease).finally(() => {
            this.running.delete(p);
            this.wake?.();
          });
          this.running.add(p);
        }
        if (leases.length) {
          idle = 0;
          continue;
        }
        if (this.running.size === 0) {
          if (this.o.exitWhenEmpty) {
            try {
              if (isDrained(await queue.stats())) {
                this.summary.stopped = "empty";
                break;
              }
            } catch (e) {
              this.o.onEvent?.({ type: "queue-error", error: e });
            }
          }
          this.o.onEvent?.({ type: "idle" });
        }
        // Nothing ready: new work appears when other workers release parents. Poll with
        // jittered backoff (no polling storm), waking early when one of our tasks finishes.
        // (With nothing running, the lease call itself has just waited.)
        if (this.running.size > 0 || waitMs === 0) await this.pause(backoffMs(++idle, IDLE_POLL));
      }
      while (this.running.size) await Promise.allSettled([...this.running]);
    } finally {
      this.keeper.close();
    }
    if (this.aborted) this.summary.stopped = "abort";
    return this.summary;
  }

  get inFlight(): number {
    return this.running.size;
  }
}
