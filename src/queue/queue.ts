/**
 * The task-queue contract every backend implements (architecture.md §6.3 item 6): `mem://`,
 * `fq://` (a directory on a local or shared filesystem), `redis://` and `sqs://`.
 *
 * Shaped after python-task-queue's verbs (insert, lease, renew, delete, release_all) and BullMQ's
 * lock rules, with three differences that matter in practice:
 *  - a lease is identified by a fresh token (or receipt handle), never by the task id, so a
 *    worker whose lease expired cannot complete, fail or renew the task another worker now holds;
 *  - retries are bounded: past the bound, or at once for an unrecoverable error, a task moves to
 *    a dead-letter list with its error, and `retryFailed` puts those back;
 *  - dependencies are tracked by the queue: completing a child records it under each parent, and
 *    the child that completes a parent's set enqueues the parent, exactly once, under its id.
 */

/** One task on the queue: a deterministic id, the stage it belongs to (for counts), and the
 * message body (small JSON, see message.ts). */
export interface QueueItem {
  /** Deterministic: enqueueing an id the queue already knows (in any state) does nothing. */
  id: string;
  stage: number;
  body: string;
}

export interface Lease {
  readonly id: string;
  readonly stage: number;
  readonly body: string;
  /** Fresh for every lease; what renew/complete/fail/release check. */
  readonly token: string;
  /** 1 on the first lease of a task; counts every lease, expired ones included. */
  readonly attempt: number;
  /** Local clock (ms) at which the lease runs out unless renewed; updated by renew. */
  expiresAt: number;
  /** Backend-private state (current file name, receipt handle). */
  handle?: unknown;
}

/** A parent a completed child counts toward. */
export interface ParentLink {
  /** The parent task, enqueued once all its children are done. */
  item: QueueItem;
  /** How many distinct children the parent waits for. */
  expected: number;
}

export interface CompleteOptions {
  parents?: readonly ParentLink[];
}

export interface CompleteResult {
  /** False when the lease was lost: the task is someone else's now, nothing was recorded. */
  ok: boolean;
  /** Parents this completion released (enqueued). */
  released: string[];
}

export interface FailOptions {
  /** False for errors a retry cannot fix (bad input, unknown message): dead-letter at once. */
  retryable: boolean;
  /** Delay before the retry becomes visible (backoff); default from the queue options. */
  delayMs?: number;
}

/** What happened to a failed task: retried later, moved to the dead-letter list, or nothing
 * because the lease was lost. */
export type FailOutcome = "retry" | "dead" | "lost";

export interface StageCounts {
  stage: number;
  /** Distinct tasks ever enqueued for this stage. */
  enqueued: number;
  /** Ready to lease (retries waiting out their backoff are in `delayed`, not here). */
  pending: number;
  /** Failed at least once, waiting for their retry. */
  delayed: number;
  /** Leased now (or leased and expired, not yet taken back). */
  leased: number;
  done: number;
  dead: number;
}

export interface QueueStats {
  stages: StageCounts[];
  /** SQS: the per-stage pending/leased split is not known; `pending` holds pending + leased
   * (enqueued − done − dead), and the queue-wide message counts SQS reports are in `backlog`. */
  approximate?: boolean;
  backlog?: { visible: number; inFlight: number; delayed: number };
  /** Wall-clock ms of the first and the latest completion, when the backend knows them. */
  firstDoneAt?: number;
  lastDoneAt?: number;
}

export interface DeadTask {
  id: string;
  stage: number;
  error: string;
  attempt: number;
}

export interface QueueOptions {
  /** A retryable failure on this attempt or later dead-letters the task. Default 5. */
  maxAttempts?: number;
  /** A task leased this many times without finishing (its workers keep dying) is dead-lettered
   * when its last lease expires. Default 20. */
  maxLeases?: number;
  /** Retry delay when fail() is given none. Default 1000 ms. */
  retryDelayMs?: number;
}

export const DEFAULT_QUEUE_OPTIONS: Required<QueueOptions> = {
  maxAttempts: 5,
  maxLeases: 20,
  retryDelayMs: 1000,
};

export interface Queue {
  /** The URL it was opened with (secrets never included). */
  readonly url: string;

  /** Adds tasks whose ids the queue does not know yet; returns how many were new. */
  enqueue(items: readonly QueueItem[]): Promise<number>;
  /**
   * Leases up to `max` ready tasks for `leaseMs`. When none is ready, waits up to `waitMs` for
   * one (default 0: answer at once). An empty array means nothing was ready.
   */
  lease(max: number, leaseMs: number, waitMs?: number): Promise<Lease[]>;
  /** Extends a lease to `leaseMs` from now; false once the lease is lost. */
  renew(lease: Lease, leaseMs: number): Promise<boolean>;
  /** renew() for many leases in one round trip where the backend allows it. */
  renewMany(leases: readonly Lease[], leaseMs: number): Promise<boolean[]>;
  /** Marks the task done, counts it toward its parents and enqueues the parents it completes. */
  complete(lease: Lease, options?: CompleteOptions): Promise<CompleteResult>;
  fail(lease: Lease, error: string, options: FailOptions): Promise<FailOutcome>;
  /** Hands the task back, ready at once, without counting an attempt. False if lost. */
  release(lease: Lease): Promise<boolean>;

  stats(): Promise<QueueStats>;
  /** Dead-lettered tasks with their errors (at most `limit`, default 100). */
  deadLetters(limit?: number): Promise<DeadTask[]>;
  /** Moves every dead-lettered task back to pending with a fresh attempt count. */
  retryFailed(): Promise<number>;
  /** Ends every lease now (their workers' results are then dropped). Returns how many. */
  releaseAll(): Promise<number>;
  /** Deletes every task, state and record of this queue. */
  purge(): Promise<void>;

  /** Small JSON records about the jobs on this queue (status uses them). */
  setMeta(key: string, value: string): Promise<void>;
  getMeta(): Promise<Record<string, string>>;

  close(): Promise<void>;
}

/** Task ids travel in file names and Redis keys: keep them to a safe alphabet. */
export const TASK_ID = /^[A-Za-z0-9_.-]{1,200}$/;

export function totals(stats: QueueStats): Omit<StageCounts, "stage"> {
  const t = { enqueued: 0, pending: 0, delayed: 0, leased: 0, done: 0, dead: 0 };
  for (const s of stats.stages) {
    t.enqueued += s.enqueued;
    t.pending += s.pending;
    t.delayed += s.delayed;
    t.leased += s.leased;
    t.done += s.done;
    t.dead += s.dead;
  }
  return t;
}

/** Nothing left that a worker could lease now or later (dead-lettered tasks aside). */
export function isDrained(stats: QueueStats): boolean {
  if (stats.backlog) {
    const b = stats.backlog;
    return b.visible === 0 && b.inFlight === 0 && b.delayed === 0;
  }
  const t = totals(stats);
  return t.pending === 0 && t.delayed === 0 && t.leased === 0;
}

/**
 * Runs enqueue calls with at most `depth` in flight, so that backends able to overlap them do
 * (fq's placement threads, Redis pipelines, SQS senders); `calls` is consumed lazily, so only
 * `depth` batches of messages exist at a time. Returns the sum of new ids; every started call
 * settles before the first failure is rethrown.
 */
export async function enqueueInFlight(
  calls: Iterable<() => Promise<number>>,
  depth = 4,
): Promise<number> {
  let added = 0;
  let failure: unknown;
  const running = new Set<Promise<void>>();
  for (const call of calls) {
    if (failure !== undefined) break;
    const p: Promise<void> = call().then(
      (n) => {
        added += n;
      },
      (e) => {
        failure ??= e;
      },
    );
    running.add(p);
    void p.then(() => running.delete(p));
    if (running.size >= depth) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure;
  return added;
}
