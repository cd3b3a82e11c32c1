import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { serializeInfo } from "../precomputed/info.js";
import type { PrecomputedInfo } from "../precomputed/types.js";
import type { VolumeSource } from "../sources/source.js";
import { readBytes } from "../storage/io.js";
import type { KvStore, PublicAccess } from "../storage/kvstore.js";
import { applyPublicAccess } from "../storage/public-access.js";
import { openStore } from "../storage/registry.js";
import { ThreadPool } from "../worker/pool.js";
import { openTaskContext, runIngestTask, type TaskEvent, type TaskResult } from "./ingest-task.js";
import { DONE_PREFIX, type IngestJob, type IngestTask, JOB_KEY } from "./job.js";
import { chunkCount, stageTasks, taskChunkCount } from "./plan.js";

/**
 * Running a planned job locally: check what the destination holds (fresh, resumable, complete,
 * or something else), record the job, run every task not yet done on a worker-thread pool,
 * stage by stage, then publish `info` and remove the job state.
 */

/** A job planned by `prepareIngest` or `prepareConvert`, ready to run. Nothing written yet. */
export interface PreparedJob {
  job: IngestJob;
  /** The opened source, reused when tasks run on the calling thread. */
  source?: VolumeSource;
  sourceDescription: string;
  sourceSize: Vec3;
  workers: number;
  memoryBytes: number;
  taskBudget: number;
  overBudget: boolean;
  taskCounts: number[];
  overwrite: boolean;
  /** `--public` / `--cors`: applied to the destination before any task runs. */
  access?: PublicAccess;
}

export interface ProgressEvent {
  stage: number;
  stages: number;
  tasksDone: number;
  tasksTotal: number;
  /** Chunks written or skipped so far, over all scales (resumed tasks count as done). */
  chunksDone: number;
  chunksTotal: number;
  /** Voxels read from the source so far in this run. */
  sourceVoxels: number;
}

export interface JobHooks {
  onStart?(state: { resumed: number; total: number }): void;
  onProgress?(e: ProgressEvent): void;
  signal?: AbortSignal;
}

export interface JobSummary {
  status: "completed" | "already-complete";
  tasks: number;
  resumed: number;
  chunksWritten: number;
  chunksSkipped: number;
  bytesWritten: number;
  voxelsRead: number;
  seconds: number;
}

function jobFingerprint(job: IngestJob): string {
  return JSON.stringify({ ...job, destination: undefined });
}

async function readText(store: KvStore, key: string): Promise<string | undefined> {
  const b = await readBytes(store, key);
  return b === undefined ? undefined : new TextDecoder().decode(b);
}

/** Decide what to do with what the destination already holds; returns "fresh", "resume" or
 * "complete". Throws CONFLICT when it holds something else and overwrite is off. */
export async function checkDestination(
  store: KvStore,
  p: PreparedJob,
): Promise<"fresh" | "resume" | "complete"> {
  const job = await readText(store, JOB_KEY);
  const info = await readText(store, "info");
  const planned = serializeInfo(p.job.info);
  if (job !== undefined) {
    let same = false;
    try {
      same = jobFingerprint(JSON.parse(job)) === jobFingerprint(p.job);
    } catch {
      same = false;
    }
    if (same) return "resume";
    if (!p.overwrite) {
      throw new VoxportError(
        "CONFLICT",
        `${store.url} holds an unfinished ingest with different parameters (${JOB_KEY}); ` +
          "rerun it with the same arguments to finish it, or pass --overwrite to discard it",
      );
    }
    return "fresh";
  }
  if (info !== undefined) {
    if (info === planned && !p.overwrite) return "complete";
    if (!p.overwrite) {
      throw new VoxportError(
        "CONFLICT",
        `${store.url} already holds a different precomputed dataset (its info differs); ` +
          "choose another destination or pass --overwrite",
      );
    }
  }
  return "fresh";
}

export async function clearDestination(store: KvStore): Promise<void> {
  // Only what an ingest writes: info, provenance, scale folders named in the old info, .voxport.
  const prefixes = [".voxport/"];
  const info = await readText(store, "info");
  if (info) {
    try {
      for (const s of (JSON.parse(info) as PrecomputedInfo).scales ?? [])
        prefixes.push(`${s.key}/`);
    } catch {
      /* an unreadable info names no scale folders */
    }
  }
  for (const prefix of prefixes) {
    for await (const key of store.list(prefix)) await store.delete(key);
  }
  await store.delete("info");
  await store.delete("provenance");
}

export async function runJob(p: PreparedJob, hooks: JobHooks = {}): Promise<JobSummary> {
  const started = performance.now();
  const { job } = p;
  const store = openStore(job.destination);
  const summary: JobSummary = {
    status: "completed",
    tasks: p.taskCounts.reduce((a, b) => a + b, 0),
    resumed: 0,
    chunksWritten: 0,
    chunksSkipped: 0,
    bytesWritten: 0,
    voxelsRead: 0,
    seconds: 0,
  };
  const state = await checkDestination(store, p);
  // Before any task: a bucket that refuses a public policy fails the job now, not after hours.
  if (p.access !== undefined) await applyPublicAccess(store, p.access, { signal: hooks.signal });
  if (state === "complete") {
    summary.status = "already-complete";
    summary.resumed = summary.tasks;
    return summary;
  }
  if (state === "fresh" && p.overwrite) await clearDestination(store);
  // The job file goes first: a destination we cannot write fails here, before any chunk.
  await store.put(JOB_KEY, new TextEncoder().encode(JSON.stringify(job, null, 1)), {
    contentType: "application/json",
  });

  const done = new Set<string>();
  if (state === "resume") {
    // A killed run can leave partial temporary objects behind; they are not part of the data.
    await store.sweep?.("");
    for await (const key of store.list(DONE_PREFIX)) done.add(key.slice(DONE_PREFIX.length));
  }
  hooks.onStart?.({ resumed: done.size, total: summary.tasks });

  const pool = p.workers > 0 ? new ThreadPool(p.workers) : undefined;
  const local = pool ? undefined : await openTaskContext(job);
  if (local && p.source) local.source = p.source;
  const scales = job.info.scales;
  const progress: ProgressEvent = {
    stage: 0,
    stages: job.stages.length,
    tasksDone: 0,
    tasksTotal: summary.tasks,
    chunksDone: 0,
    chunksTotal: scales.reduce((n, s) => n + chunkCount(s), 0),
    sourceVoxels: 0,
  };
  const report = () => hooks.onProgress?.({ ...progress });
  const onEvent = (stage: number) => (e: unknown) => {
    const ev = e as TaskEvent;
    if (ev.chunks) progress.chunksDone += ev.chunks;
    // Source voxels: stage 0 of an ingest, every stage of a convert.
    if (ev.voxelsRead && (stage === 0 || job.source.kind === "precomputed")) {
      progress.sourceVoxels += ev.voxelsRead;
    }
    report();
  };
  const run = (task: IngestTask): Promise<TaskResult> =>
    pool
      ? pool.run<TaskResult>({ kind: "ingest", job, task }, onEvent(task.stage))
      : runIngestTask(local!, task, hooks.signal, onEvent(task.stage));

  try {
    for (let s = 0; s < job.stages.length; s++) {
      const todo: IngestTask[] = [];
      for (const t of stageTasks(scales, job.stages[s], s)) {
        if (!done.has(t.id)) {
          todo.push(t);
          continue;
        }
        summary.resumed++;
        progress.tasksDone++;
        progress.chunksDone += taskChunkCount(scales, job.stages[s], t);
      }
      progress.stage = s;
      report();
      await runAll(todo, Math.max(1, p.workers), hooks.signal, async (t) => {
        const r = await run(t);
        summary.chunksWritten += r.chunksWritten;
        summary.chunksSkipped += r.chunksSkipped;
        summary.bytesWritten += r.bytesWritten;
        summary.voxelsRead += r.voxelsRead;
        progress.tasksDone++;
        report();
      });
    }
  } finally {
    await pool?.close();
  }

  await publishDataset(job, store);
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** Publish a finished job: provenance, then info (the dataset becomes visible), then drop the
 * job state. Shared by the local run and the queue's publish step. */
export async function publishDataset(
  job: IngestJob,
  store: KvStore = openStore(job.destination),
): Promise<void> {
  const provenance = {
    description: "",
    owners: [],
    processing: [
      {
        method: {
          task: job.source.kind === "precomputed" ? "voxport convert" : "voxport ingest",
          source: job.source,
          compress: job.compress,
          downsample: job.downsample,
          skip_empty_ratio: job.skipEmptyRatio,
        },
        by: "voxport",
      },
    ],
    sources: [job.source.input],
  };
  await store.put(
    "provenance",
    new TextEncoder().encode(`${JSON.stringify(provenance, null, 2)}\n`),
    {
      contentType: "application/json",
      cacheControl: "no-cache",
    },
  );
  await store.put("info", new TextEncoder().encode(serializeInfo(job.info)), {
    contentType: "application/json",
    cacheControl: "no-cache",
  });
  // job.json last: a publish interrupted half-way (a killed queue worker) is redone from it.
  for await (const key of store.list(".voxport/")) if (key !== JOB_KEY) await store.delete(key);
  await store.delete(JOB_KEY);
  // A duplicate run of a task (its lease expired while it ran) may have written its done marker
  // after the listing above. Such a run checks for job.json after writing (ingest-task.ts), so
  // either it sees job.json gone and removes its marker, or its marker predates this listing.
  for await (const key of store.list(".voxport/")) await store.delete(key);
}

/** Run `fn` over `items` with at most `limit` in flight; the first failure stops new starts
 * and is rethrown once the running ones have settled. */
async function runAll<T>(
  items: T[],
  limit: number,
  signal: AbortSignal | undefined,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      if (signal?.aborted) {
        failure = signal.reason ?? new VoxportError("ABORTED", "ingest interrupted");
        break;
      }
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure;
}
