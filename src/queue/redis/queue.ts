import { randomBytes } from "node:crypto";
import { ErrorCode, type Job, UnrecoverableError, type Worker } from "bullmq";
import { Redis } from "ioredis";
import { VoxportError } from "../../errors.js";
import { redactUrl } from "../open.js";
import type {
  CompleteOptions,
  CompleteResult,
  DeadTask,
  FailOptions,
  FailOutcome,
  Lease,
  ParentLink,
  Queue,
  QueueItem,
  QueueOptions,
  QueueStats,
  StageCounts,
} from "../queue.js";
import { TASK_ID } from "../queue.js";
import { JOB_NAME, jobIdOf, Stage, taskIdOf, type WorkerSettings } from "./stage.js";
import { parseRedisUrl } from "./url.js";

/**
 * `redis://[user:password@]host:port[/db]/NAME`: the queue on BullMQ. Each stage is a BullMQ
 * queue (stage.ts) under the prefix `voxport:{NAME}` (one hash slot, so Redis Cluster works);
 * a task is a BullMQ job whose id is the task id (BullMQ's jobId de-duplication) and whose data
 * is the task message. Completed and dead jobs are kept, so an id dedupes for the queue's life.
 *
 * How the contract maps onto BullMQ (its manual-processing API; voxport's loop is the processor):
 *  - lease: `Worker.getNextJob(token)` with a fresh random token per lease, which BullMQ stores
 *    as the job's lock and checks on every extendLock / moveToCompleted / moveToFailed /
 *    moveToWait, so an expired holder cannot touch a job another worker now holds;
 *  - expired leases: BullMQ's two-pass stalled sweep (each leasing process runs it); past
 *    maxLeases − 1 stalls BullMQ marks the job as a deferred failure, and the next lease call
 *    moves it to `failed` with a message saying so (so maxLeases counts expired leases: a
 *    lease that ended in a retryable failure is counted by maxAttempts instead);
 *  - fail: voxport decides (it counts leases, BullMQ counts failures) and tells BullMQ through
 *    the job's attempts/backoff, so a retry is BullMQ's `delayed` state and a dead task its
 *    `failed` state with the error as `failedReason`;
 *  - parents: BullMQ flows allow one parent per child and want the tree up front; voxport's
 *    tasks have several parents found as they go, so each parent has a set `deps:<id>` of done
 *    children (SADD + SCARD in one MULTI) and the child that fills it adds the parent as a job
 *    under its id (a re-add is a no-op). Order: record under parents, add released parents,
 *    then complete the child — a worker killed between steps leaves the child leased, the
 *    next holder repeats the steps, and every step is idempotent.
 *
 * Own keys next to BullMQ's: `voxport:{NAME}:stages` (set of stage numbers), `:meta` (hash,
 * job records), `:deps:<parent id>` (sets, deleted once the parent is enqueued). No Lua of
 * voxport's own: every step is a BullMQ call or a plain command (MULTI where two must agree).
 */

/** Jobs per addBulk pipeline, and pipelines in flight at once (measured: smaller chunks keep
 * fewer jobs alive across garbage collections; four in flight keep Redis busy). */
const CHUNK = 1000;
const DEPTH = 4;

/** BullMQ's answers that mean "this token no longer holds the job". */
const LOST_CODES: ReadonlySet<number> = new Set([
  ErrorCode.JobNotExist,
  ErrorCode.JobLockNotExist,
  ErrorCode.JobNotInState,
  ErrorCode.JobLockMismatch,
]);

function isLost(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "number" && LOST_CODES.has(code);
}

/** What a Lease carries for this backend: the BullMQ job and the worker that fetched it. */
interface Held {
  job: Job<string, null, string>;
  worker: Worker<string, null, string>;
  /** The job's hash key. */
  key: string;
  leaseMs: number;
}

function held(lease: Lease): Held {
  const h = lease.handle as Held | undefined;
  if (!h?.job) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `lease of task ${lease.id} was not handed out by a redis:// queue`,
    );
  }
  return h;
}

function toJob(item: QueueItem) {
  return { name: JOB_NAME, data: item.body, opts: { jobId: jobIdOf(item.id) } };
}

function checkItem(item: QueueItem): void {
  if (!TASK_ID.test(item.id)) {
    throw new VoxportError("INVALID_ARGUMENT", `task id ${JSON.stringify(item.id)} is not valid`);
  }
  if (!Number.isInteger(item.stage) || item.stage < 0) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `task ${item.id}: stage ${item.stage} is not a whole number ≥ 0`,
    );
  }
}

export class RedisQueue implements Queue {
  private readonly base: string;
  private readonly prefix: string;
  private readonly salt = randomBytes(8).toString("hex");
  private seq = 0;
  private readonly stages = new Map<number, Stage>();
  private settings?: WorkerSettings;
  private leaseList?: { at: number; numbers: number[] };
  /** Connection errors BullMQ reports as events; the calls that need Redis reject anyway. */
  lastError?: Error;

  private constructor(
    readonly url: string,
    private readonly redis: Redis,
    name: string,
    private readonly options: Required<QueueOptions>,
  ) {
    this.prefix = `voxport:{${name}}`;
    this.base = `${this.prefix}:`;
  }

  /** Connects first, so a wrong host or password is one clear error naming the server. */
  static async open(url: string, options: Required<QueueOptions>): Promise<RedisQueue> {
    const { options: address, name } = parseRedisUrl(url);
    const redis = new Redis({
      ...address,
      lazyConnect: true,
      // Fail a command after two reconnection attempts rather than twenty: the worker loop
      // retries queue calls with backoff, and the CLI should answer instead of hanging.
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    const q = new RedisQueue(redactUrl(url), redis, name, options);
    redis.on("error", (e: Error) => {
      q.lastError = e;
    });
    try {
      await redis.connect();
    } catch (e) {
      redis.disconnect();
      throw new VoxportError(
        "STORAGE",
        `cannot reach Redis at ${address.host}:${address.port} for queue ${q.url}: ${(q.lastError ?? (e as Error)).message}`,
        { cause: e },
      );
    }
    return q;
  }

  private stage(n: number): Stage {
    let s = this.stages.get(n);
    if (!s) {
      s = new Stage(n, this.redis, this.prefix, (e) => {
        this.lastError = e;
      });
      this.stages.set(n, s);
    }
    return s;
  }

  private async stageNumbers(): Promise<number[]> {
    const members = await this.redis.smembers(`${this.base}stages`);
    return members.map(Number).sort((a, b) => a - b);
  }

  private depsKey(parentId: string): string {
    return `${this.base}deps:${parentId}`;
  }

  async enqueue(items: readonly QueueItem[]): Promise<number> {
    let added = 0;
    for (const [n, list] of await this.register(items)) {
      const queue = this.stage(n).queue;
      // Large batches go to Redis as pipelines of CHUNK jobs, DEPTH of them in flight, so the
      // next chunk is encoded here while Redis runs the previous ones.
      const inFlight: Promise<number>[] = [];
      for (let i = 0; i < list.length; i += CHUNK) {
        if (inFlight.length >= DEPTH) added += await inFlight.shift()!;
        inFlight.push(this.addChunk(queue, list.slice(i, i + CHUNK)));
      }
      for (const p of inFlight) added += await p;
    }
    return added;
  }

  /** Validates, drops repeated ids, groups by stage and registers the stages. */
  private async register(items: readonly QueueItem[]): Promise<Map<number, QueueItem[]>> {
    const seen = new Set<string>();
    const byStage = new Map<number, QueueItem[]>();
    for (const item of items) {
      checkItem(item);
      if (seen.has(item.id)) continue;
      seen.add(item.id);
      const list = byStage.get(item.stage);
      if (list) list.push(item);
      else byStage.set(item.stage, [item]);
    }
    // Registered before any job exists in it, so a stage with jobs is always listed.
    if (byStage.size) await this.redis.sadd(`${this.base}stages`, ...byStage.keys());
    return byStage;
  }

  private async addChunk(queue: Stage["queue"], chunk: QueueItem[]): Promise<number> {
    // BullMQ's add answers with the id whether the job was new or not, so one multi-key EXISTS
    // first counts the known ones (a chunk of only known ids is not sent at all). Both run
    // unlocked: an enqueue of the same new ids at the same moment elsewhere is counted by both
    // (BullMQ still adds each job once).
    const known = await this.redis.exists(...chunk.map((item) => queue.toKey(jobIdOf(item.id))));
    if (known < chunk.length) await queue.addBulk(chunk.map(toJob));
    return chunk.length - known;
  }

  /** Adds parents one by one (few at a time): returns the ids this call added. */
  private async addParents(items: readonly QueueItem[]): Promise<string[]> {
    const added: string[] = [];
    for (const [n, list] of await this.register(items)) {
      const queue = this.stage(n).queue;
      for (const item of list) {
        if (await this.redis.exists(queue.toKey(jobIdOf(item.id)))) continue;
        await queue.add(JOB_NAME, item.body, { jobId: jobIdOf(item.id) });
        added.push(item.id);
      }
    }
    return added;
  }

  private workerSettings(leaseMs: number): WorkerSettings {
    // Fixed by this handle's first lease: the sweep interval is a quarter of the lease, so an
    // expired lease is taken back within about half a lease after it runs out.
    this.settings ??= {
      lockMs: leaseMs,
      stalledMs: Math.min(30_000, Math.max(100, Math.round(leaseMs / 4))),
      maxStalledCount: this.options.maxLeases - 1,
    };
    return this.settings;
  }

  /** The stage list for lease calls: re-read at most once a second while it yields work. */
  private async leaseStages(fresh: boolean): Promise<number[]> {
    if (fresh || !this.leaseList || Date.now() - this.leaseList.at > 1000) {
      this.leaseList = { at: Date.now(), numbers: await this.stageNumbers() };
    }
    return this.leaseList.numbers;
  }

  private async take(max: number, leaseMs: number): Promise<Lease[]> {
    const before = this.leaseList;
    const numbers = await this.leaseStages(false);
    const out = await this.takeFrom(numbers, max, leaseMs);
    if (out.length || this.leaseList !== before) return out;
    // Nothing in the stages known a moment ago: look for stages added since.
    const added = (await this.leaseStages(true)).filter((n) => !numbers.includes(n));
    return added.length ? this.takeFrom(added, max, leaseMs) : out;
  }

  private async takeFrom(numbers: number[], max: number, leaseMs: number): Promise<Lease[]> {
    const settings = this.workerSettings(leaseMs);
    const out: Lease[] = [];
    // Every stage gets its worker (and so this process's stalled sweep) even when the first
    // stages fill the request, so expired leases in later stages come back too.
    const workers = numbers.map((n) => this.stage(n).worker(settings));
    for (const [k, n] of numbers.entries()) {
      const worker = workers[k];
      while (out.length < max) {
        const token = `${this.salt}:${++this.seq}`;
        const sent = Date.now();
        const job = await worker.getNextJob(token, { block: false });
        if (!job) break;
        const key = worker.toKey(job.id ?? "");
        if (job.deferredFailure) {
          await this.bury(job, key, token);
          continue;
        }
        const h: Held = { job, worker, key, leaseMs };
        out.push({
          id: taskIdOf(job.id ?? ""),
          stage: n,
          body: job.data,
          token,
          attempt: job.attemptsStarted,
          expiresAt: sent + settings.lockMs,
          handle: h,
        });
      }
      if (out.length >= max) break;
    }
    if (out.length && settings.lockMs !== leaseMs) {
      // The workers lock for this handle's first lease length; another length is set at once.
      const ok = await this.renewMany(out, leaseMs);
      return out.filter((_, i) => ok[i]);
    }
    return out;
  }

  /** A job BullMQ marked as stalled too often: dead-letter it with a message that says why. */
  private async bury(job: Job<string, null, string>, key: string, token: string): Promise<void> {
    // This activation only delivers the failure; it is not a lease.
    await this.redis.hincrby(key, "ats", -1);
    const err = new UnrecoverableError(
      `lease expired ${job.stalledCounter} times without the task finishing (its workers died?)`,
    );
    err.stack = err.message;
    try {
      await job.moveToFailed(err, token, false);
    } catch (e) {
      if (!isLost(e)) throw e;
    }
  }

  async lease(max: number, leaseMs: number, waitMs = 0): Promise<Lease[]> {
    // Polls the stage queues with backoff (20 ms doubling to 1 s): a blocking wait works on
    // one BullMQ queue only, and a worker takes from all stages.
    const deadline = Date.now() + waitMs;
    let delay = 20;
    for (;;) {
      const got = await this.take(max, leaseMs);
      const left = deadline - Date.now();
      if (got.length || left <= 0) return got;
      await new Promise((r) => setTimeout(r, Math.min(left, delay * (0.5 + Math.random()))));
      delay = Math.min(delay * 2, 1000);
    }
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    return (await this.renewMany([lease], leaseMs))[0];
  }

  async renewMany(leases: readonly Lease[], leaseMs: number): Promise<boolean[]> {
    // One extendLocks call per BullMQ worker (stage) involved.
    const groups = new Map<Held["worker"], number[]>();
    leases.forEach((l, i) => {
      const w = held(l).worker;
      const g = groups.get(w);
      if (g) g.push(i);
      else groups.set(w, [i]);
    });
    const out = leases.map(() => false);
    const sent = Date.now();
    await Promise.all(
      [...groups].map(async ([worker, idx]) => {
        const ids = idx.map((i) => held(leases[i]).job.id ?? "");
        const tokens = idx.map((i) => leases[i].token);
        // extendLocks answers with the ids it could not extend; with one id held under two
        // tokens (a stale lease next to a fresh one) that is ambiguous, so ask one by one.
        const ok =
          new Set(ids).size === ids.length
            ? await worker.extendJobLocks(ids, tokens, leaseMs).then((failed) => {
                const f = new Set(failed);
                return ids.map((id) => !f.has(id));
              })
            : await Promise.all(
                idx.map(
                  async (i) =>
                    Number(await held(leases[i]).job.extendLock(leases[i].token, leaseMs)) === 1,
                ),
              );
        idx.forEach((i, k) => {
          if (!ok[k]) return;
          out[i] = true;
          leases[i].expiresAt = sent + leaseMs;
          held(leases[i]).leaseMs = leaseMs;
        });
      }),
    );
    return out;
  }

  async complete(lease: Lease, options: CompleteOptions = {}): Promise<CompleteResult> {
    const h = held(lease);
    const parents = options.parents ?? [];
    for (const p of parents) checkItem(p.item);
    let released: string[] = [];
    if (parents.length) {
      // Still ours? (Extending also keeps it ours while the parent steps run.)
      if (Number(await h.job.extendLock(lease.token, h.leaseMs)) !== 1) {
        return { ok: false, released: [] };
      }
      released = await this.countTowardParents(lease.id, parents);
    }
    try {
      await h.job.moveToCompleted(null, lease.token, false);
    } catch (e) {
      if (isLost(e)) return { ok: false, released };
      throw e;
    }
    return { ok: true, released };
  }

  /** Records the child under each parent; adds the parents whose sets it fills. */
  private async countTowardParents(
    childId: string,
    parents: readonly ParentLink[],
  ): Promise<string[]> {
    const tx = this.redis.multi();
    for (const p of parents) {
      tx.sadd(this.depsKey(p.item.id), childId);
      tx.scard(this.depsKey(p.item.id));
    }
    const replies = await tx.exec();
    if (!replies) throw new VoxportError("STORAGE", `${this.url}: parent update was aborted`);
    const full = parents.filter((p, i) => {
      const [err, count] = replies[2 * i + 1];
      if (err) throw err;
      return Number(count) >= p.expected;
    });
    if (full.length === 0) return [];
    // A child repeating this after a crash finds the set full too and re-adds: a no-op.
    const released = await this.addParents(full.map((p) => p.item));
    await this.redis.del(...full.map((p) => this.depsKey(p.item.id)));
    return released;
  }

  async fail(lease: Lease, error: string, options: FailOptions): Promise<FailOutcome> {
    const h = held(lease);
    const dead = !options.retryable || lease.attempt >= this.options.maxAttempts;
    const err = dead ? new UnrecoverableError(error) : new Error(error);
    err.stack = error; // BullMQ keeps `stack` as the job's stacktrace; ours is the message.
    if (!dead) {
      // BullMQ retries while attemptsMade + 1 < attempts, after the backoff's delay; voxport has
      // decided to retry, after this delay.
      h.job.opts.attempts = h.job.attemptsMade + 2;
      h.job.opts.backoff = { type: "fixed", delay: options.delayMs ?? this.options.retryDelayMs };
    }
    try {
      await h.job.moveToFailed(err, lease.token, false);
    } catch (e) {
      if (isLost(e)) return "lost";
      throw e;
    }
    return dead ? "dead" : "retry";
  }

  async release(lease: Lease): Promise<boolean> {
    const h = held(lease);
    try {
      await h.job.moveToWait(lease.token);
    } catch (e) {
      if (isLost(e)) return false;
      throw e;
    }
    // Handing back does not count as an attempt. (Not atomic with the move: a lease taken in
    // between reports one attempt more, which only brings a retry bound one lease closer.)
    await this.redis.hincrby(h.key, "ats", -1);
    return true;
  }

  async stats(): Promise<QueueStats> {
    const numbers = await this.stageNumbers();
    const stages: StageCounts[] = await Promise.all(
      numbers.map(async (n) => {
        const c = await this.stage(n).queue.getJobCounts(
          "waiting",
          "prioritized",
          "waiting-children",
          "active",
          "delayed",
          "completed",
          "failed",
        );
        const pending = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c["waiting-children"] ?? 0);
        const leased = c.active ?? 0;
        const delayed = c.delayed ?? 0;
        const done = c.completed ?? 0;
        const dead = c.failed ?? 0;
        return {
          stage: n,
          enqueued: pending + leased + delayed + done + dead,
          pending,
          delayed,
          leased,
          done,
          dead,
        };
      }),
    );
    // BullMQ's completed set is scored by finish time (ms).
    const p = this.redis.pipeline();
    for (const n of numbers) {
      const key = this.stage(n).queue.keys.completed;
      p.zrange(key, "0", "0", "WITHSCORES");
      p.zrange(key, "-1", "-1", "WITHSCORES");
    }
    let firstDoneAt: number | undefined;
    let lastDoneAt: number | undefined;
    for (const [i, [err, r]] of ((await p.exec()) ?? []).entries()) {
      if (err) throw err;
      const t = Number((r as string[])[1]);
      if (!Number.isFinite(t)) continue;
      if (i % 2 === 0) firstDoneAt = Math.min(firstDoneAt ?? t, t);
      else lastDoneAt = Math.max(lastDoneAt ?? t, t);
    }
    return { stages, firstDoneAt, lastDoneAt };
  }

  async deadLetters(limit = 100): Promise<DeadTask[]> {
    const out: DeadTask[] = [];
    for (const n of await this.stageNumbers()) {
      if (out.length >= limit) break;
      const jobs = await this.stage(n).queue.getFailed(0, limit - out.length - 1);
      for (const job of jobs) {
        out.push({
          id: taskIdOf(job.id ?? ""),
          stage: n,
          error: job.failedReason ?? "",
          attempt: job.attemptsStarted,
        });
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async retryFailed(): Promise<number> {
    let total = 0;
    for (const n of await this.stageNumbers()) {
      const queue = this.stage(n).queue;
      for (;;) {
        const jobs = await queue.getFailed(0, 999);
        if (jobs.length === 0) break;
        const results = await Promise.allSettled(
          jobs.map(async (job) => {
            // A fresh start: BullMQ resets attempts made and started; the stall count is ours
            // to reset (the job sits in `failed`, nobody else writes it).
            await this.redis.hdel(queue.toKey(job.id ?? ""), "stc");
            await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
          }),
        );
        const moved = results.filter((r) => r.status === "fulfilled").length;
        total += moved;
        if (moved === 0) break;
      }
    }
    return total;
  }

  async releaseAll(): Promise<number> {
    let total = 0;
    for (const n of await this.stageNumbers()) {
      const queue = this.stage(n).queue;
      const ids = await this.redis.lrange(queue.keys.active, 0, -1);
      const results = await Promise.all(
        ids.map(async (id) => {
          const job = await queue.getJob(id);
          if (!job) return false;
          // The holder's token ends the lease (BullMQ deletes the lock); a job whose lock already
          // ran out is moved without one ("0"), ahead of the stalled sweep.
          const token = (await this.redis.get(`${queue.toKey(id)}:lock`)) ?? "0";
          try {
            await job.moveToWait(token);
            return true;
          } catch (e) {
            if (isLost(e)) return false;
            throw e;
          }
        }),
      );
      total += results.filter(Boolean).length;
    }
    return total;
  }

  async purge(): Promise<void> {
    for (const n of await this.stageNumbers()) {
      await this.stage(n).queue.obliterate({ force: true });
    }
    // Then our own keys (and anything else under the prefix).
    const pattern = `${this.base.replace(/[*?[\]\\]/g, "\\$&")}*`;
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) await this.redis.unlink(...keys);
    } while (cursor !== "0");
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.redis.hset(`${this.base}meta`, key, value);
  }

  async getMeta(): Promise<Record<string, string>> {
    return this.redis.hgetall(`${this.base}meta`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.stages.values()].map((s) => s.close()));
    this.stages.clear();
    await this.redis.quit().catch(() => undefined);
  }
}
