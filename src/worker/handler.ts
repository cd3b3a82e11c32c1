import { bossParentLinks } from "../boss/messages.js";
import {
  type BossContext,
  type BossTaskResult,
  openBossContext,
  runBossTask,
} from "../boss/task.js";
import { type VerifyResult, verifySlice } from "../boss/verify.js";
import { VoxportError } from "../errors.js";
import { GraphRunner, type GraphTaskResult } from "../graph/tasks.js";
import { parseMessage } from "../queue/message.js";
import type { Lease, ParentLink } from "../queue/queue.js";
import { readBytes, readJson } from "../storage/io.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { parentLinks } from "../tasks/enqueue.js";
import {
  markerKey,
  openTaskContext,
  runIngestTask,
  type TaskContext,
  type TaskResult,
} from "../tasks/ingest-task.js";
import { type IngestJob, type IngestTask, JOB_KEY } from "../tasks/job.js";
import { publishDataset } from "../tasks/run.js";
import type { ThreadPool } from "./pool.js";

/**
 * What a queue worker does with one leased message: validate it, load its job (from
 * `<destination>/.voxport/job.json`, once per destination), run it — an ingest task on the
 * thread pool, or the publish step on this thread — and say which parents its completion
 * counts toward. Kept apart from the loop so the loop can run any handler (tests use fakes).
 */

export interface TaskOutcome {
  kind: "ingest" | "publish" | "boss-block" | "boss-verify" | "graph";
  parents: ParentLink[];
  /** The task's done marker was already in the destination: nothing was run. */
  skipped?: boolean;
  /** The job was already published (its job.json is gone, its info is there). */
  alreadyPublished?: boolean;
  result?: TaskResult;
  /** A BOSS block task: blocks posted, skipped, and the ones that failed after retries. */
  boss?: BossTaskResult;
  /** The BOSS verify step's read-back. */
  verify?: VerifyResult;
  /** A ChunkedGraph chunk job: nodes created. */
  graph?: GraphTaskResult;
}

export type Handler = (lease: Lease) => Promise<TaskOutcome>;

function checkJob(raw: unknown, where: string): IngestJob {
  const j = raw as Partial<IngestJob>;
  if (
    typeof j !== "object" ||
    j === null ||
    j.version !== 1 ||
    !Array.isArray(j.stages) ||
    typeof j.destination !== "string" ||
    typeof j.info !== "object"
  ) {
    throw new VoxportError("INVALID_INFO", `${where} is not a voxport job description (version 1)`);
  }
  return j as IngestJob;
}

export class IngestHandler {
  private readonly jobs = new Map<string, Promise<IngestJob | undefined>>();
  private readonly stores = new Map<string, KvStore>();
  private readonly local = new Map<string, Promise<TaskContext>>();
  /** BOSS jobs by tag: client (token from this machine's config) and open source. */
  private readonly boss = new Map<string, BossContext>();

  /** `pool` runs ingest tasks on worker threads; without one they run on this thread. */
  constructor(private readonly pool?: ThreadPool) {}

  private store(destination: string): KvStore {
    let s = this.stores.get(destination);
    if (!s) {
      s = openStore(destination);
      this.stores.set(destination, s);
    }
    return s;
  }

  /** The job, or undefined when it was already published. Cached per destination. */
  private job(destination: string): Promise<IngestJob | undefined> {
    let p = this.jobs.get(destination);
    if (!p) {
      p = (async () => {
        const store = this.store(destination);
        const bytes = await readBytes(store, JOB_KEY);
        if (bytes === undefined) {
          if ((await store.stat("info")) !== undefined) return undefined;
          throw new VoxportError(
            "NOT_FOUND",
            `${destination}/${JOB_KEY} does not exist: was the job enqueued with voxport ingest --queue?`,
          );
        }
        return checkJob(await readJson(store, JOB_KEY), `${destination}/${JOB_KEY}`);
      })();
      this.jobs.set(destination, p);
      p.catch(() => this.jobs.delete(destination));
    }
    return p;
  }

  private async runTask(job: IngestJob, task: IngestTask): Promise<TaskResult> {
    if (this.pool) return this.pool.run<TaskResult>({ kind: "ingest", job, task });
    let ctx = this.local.get(job.destination);
    if (!ctx) {
      ctx = openTaskContext(job);
      this.local.set(job.destination, ctx);
    }
    return runIngestTask(await ctx, task);
  }

  /** BOSS tasks run here, not on the pool: they are HTTP-bound (see src/boss/task.ts). */
  private bossContext(msg: { job: string; boss: unknown }): BossContext {
    const job = msg.boss as BossContext["job"];
    const key = JSON.stringify(job);
    let ctx = this.boss.get(key);
    if (!ctx) {
      ctx = openBossContext(job);
      this.boss.set(key, ctx);
    }
    return ctx;
  }

  /** Graph chunk jobs run here: they are store-bound (reads and writes of node rows). */
  private graphRunner?: GraphRunner;

  readonly handle: Handler = async (lease) => {
    const msg = parseMessage(lease.body);
    if (msg.kind === "graph") {
      this.graphRunner ??= new GraphRunner();
      const graph = await this.graphRunner.run(msg);
      return { kind: "graph", parents: graph.parents, graph };
    }
    if (msg.kind === "boss-block") {
      const ctx = this.bossContext(msg);
      const boss = await runBossTask(ctx, msg.task);
      return { kind: msg.kind, parents: bossParentLinks(ctx.job), boss };
    }
    if (msg.kind === "boss-verify") {
      const verify = await verifySlice(this.bossContext(msg));
      return { kind: msg.kind, parents: [], verify };
    }
    const job = await this.job(msg.job);
    if (!job) return { kind: msg.kind, parents: [], alreadyPublished: true };
    if (msg.kind === "publish") {
      const store = this.store(msg.job);
      // Temporary objects that killed workers left behind are not part of the data.
      await store.sweep?.("");
      await publishDataset(job, store);
      return { kind: "publish", parents: [] };
    }
    const task: IngestTask = msg.task;
    if (task.stage >= job.stages.length) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `task ${task.id} names stage ${task.stage}; the job at ${msg.job} has ${job.stages.length}`,
      );
    }
    const parents = parentLinks(job, task);
    if ((await this.store(msg.job).stat(markerKey(task))) !== undefined) {
      return { kind: "ingest", parents, skipped: true };
    }
    const result = await this.runTask(job, task);
    return { kind: "ingest", parents, result };
  };
}
