import { VoxportError } from "../errors.js";
import type { Queue } from "../queue/queue.js";
import { BossClient } from "./client.js";
import { type BossTask, bossTasks, bossUrl } from "./job.js";
import { bossBlockItem, bossJobTag } from "./messages.js";
import type { PreparedBoss } from "./prepare.js";
import { ensureResources, type ResourceReport } from "./resources.js";
import {
  addResult,
  type BlockFailure,
  type BossContext,
  type BossTaskResult,
  emptyResult,
  runBossTask,
} from "./task.js";
import { type VerifyResult, verifySlice } from "./verify.js";

/**
 * Running a planned BOSS ingest here (tasks `workers` at a time on this process), or putting its
 * tasks on a queue for `voxport work`. Either way the resources are created and checked first,
 * so a wrong datatype or a frame that does not hold the data stops the job before any POST.
 */

export interface BossProgress {
  tasksDone: number;
  tasksTotal: number;
  blocksDone: number;
  voxelsRead: number;
}

export interface BossHooks {
  onResources?(r: ResourceReport): void;
  onProgress?(e: BossProgress): void;
  onBlockFailed?(f: BlockFailure): void;
  signal?: AbortSignal;
  /** Replaces the waits between POST attempts (tests). */
  sleep?: (ms: number) => Promise<void>;
  client?: BossClient;
}

export interface BossSummary extends BossTaskResult {
  status: "completed" | "completed-with-failures";
  tasks: number;
  seconds: number;
  resources: ResourceReport;
  verify?: VerifyResult;
}

export async function runBossJob(p: PreparedBoss, hooks: BossHooks = {}): Promise<BossSummary> {
  const started = performance.now();
  const { job } = p;
  const client = hooks.client ?? new BossClient(p.config);
  const resources = await ensureResources(job, client);
  hooks.onResources?.(resources);
  const ctx: BossContext = { job, client, source: p.source, sleep: hooks.sleep };
  const tasks = [...bossTasks(job)];
  const total = emptyResult();
  const progress: BossProgress = {
    tasksDone: 0,
    tasksTotal: tasks.length,
    blocksDone: 0,
    voxelsRead: 0,
  };
  hooks.onProgress?.({ ...progress });
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < tasks.length) {
      if (hooks.signal?.aborted) {
        failure = new VoxportError("ABORTED", "BOSS ingest interrupted");
        break;
      }
      const task: BossTask = tasks[next++];
      try {
        const r = await runBossTask(ctx, task, hooks.signal, (e) => {
          progress.blocksDone += e.blocks ?? 0;
          progress.voxelsRead += e.voxelsRead ?? 0;
          hooks.onProgress?.({ ...progress });
        });
        for (const f of r.failed) hooks.onBlockFailed?.(f);
        addResult(total, r);
        progress.tasksDone++;
        hooks.onProgress?.({ ...progress });
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(p.workers, tasks.length) }, lane));
  if (failure !== undefined) throw failure;
  const verify = job.verify ? await verifySlice(ctx, undefined, hooks.signal) : undefined;
  const ok = total.blocksFailed === 0 && (verify?.match ?? true);
  return {
    ...total,
    status: ok ? "completed" : "completed-with-failures",
    tasks: tasks.length,
    seconds: (performance.now() - started) / 1000,
    resources,
    verify,
  };
}

export interface BossEnqueueSummary {
  enqueued: number;
  offered: number;
  resources: ResourceReport;
}

/** Create/check resources, record the job on the queue, enqueue every block task. */
export async function enqueueBossJob(
  p: PreparedBoss,
  queue: Queue,
  opts: { client?: BossClient } = {},
): Promise<BossEnqueueSummary> {
  const { job } = p;
  const resources = await ensureResources(job, opts.client ?? new BossClient(p.config));
  const tag = bossJobTag(job);
  const record = {
    destination: bossUrl(job),
    source: job.source.input,
    stages: [{ first: 0, last: 0, tasks: p.tasks, scales: "BOSS blocks" }],
    publishStage: 1,
    test: false,
    enqueuedAt: Date.now(),
  };
  await queue.setMeta(`job:${tag}`, JSON.stringify(record));
  const items = [...bossTasks(job)].map((t) => bossBlockItem(job, t));
  let enqueued = 0;
  for (let i = 0; i < items.length; i += 10_000) {
    enqueued += await queue.enqueue(items.slice(i, i + 10_000));
  }
  return { enqueued, offered: items.length, resources };
}
