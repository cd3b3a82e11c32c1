import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { bytesPerVoxel } from "../ops/array.js";
import { parseInfo, serializeInfo } from "../precomputed/info.js";
import { buildScales } from "../precomputed/pyramid.js";
import { chooseShardingSpec, validateShardingSpec } from "../precomputed/sharding/spec.js";
import type { Encoding, PrecomputedInfo } from "../precomputed/types.js";
import { openImageStack } from "../sources/image-stack.js";
import type { VolumeSource } from "../sources/source.js";
import { readBytes } from "../storage/io.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { ThreadPool } from "../worker/pool.js";
import {
  markerKey,
  openTaskContext,
  runIngestTask,
  type TaskEvent,
  type TaskResult,
} from "./ingest-task.js";
import { DONE_PREFIX, type IngestJob, type IngestTask, JOB_KEY } from "./job.js";
import {
  chunkCount,
  countStageTasks,
  planStages,
  stageTasks,
  TASK_OVERHEAD,
  taskChunkCount,
} from "./plan.js";

export interface IngestOptions {
  source: string;
  destination: string;
  /** Voxel size in nm at full resolution. */
  resolution: Vec3;
  /** Scale-0 voxel_offset. */
  offset?: Vec3;
  type?: "image" | "segmentation";
  chunkSize?: Vec3;
  encoding?: Encoding;
  /** jpeg quality 1–100 (default 85, as CloudVolume). */
  jpegQuality?: number;
  /** png zlib level 0–9 (default 6). */
  pngLevel?: number;
  /** compressed_segmentation block size (default 8,8,8). */
  csegBlockSize?: Vec3;
  /** Shard every scale, with parameters chosen per scale from `shardBytes`. */
  sharded?: boolean;
  /** Explicit sharding spec(s): one object for every scale, or one per scale. */
  shardSpec?: unknown;
  /** Target uncompressed bytes per shard (default: from the per-task memory budget). */
  shardBytes?: number;
  compress?: "gzip" | "none";
  gzipLevel?: number;
  factors?: "auto" | Vec3;
  maxScales?: number;
  /** Total memory budget for all workers, bytes. */
  memoryBytes?: number;
  /** Worker threads; 0 runs tasks on the calling thread. */
  workers?: number;
  skipEmptyRatio?: number;
  zRegex?: string;
  overwrite?: boolean;
}

export const DEFAULTS = {
  chunkSize: [64, 64, 64] as Vec3,
  gzipLevel: 6,
  memoryBytes: 2 * 1024 ** 3,
  workers: 2,
};

export interface PreparedIngest {
  job: IngestJob;
  source: VolumeSource;
  workers: number;
  memoryBytes: number;
  taskBudget: number;
  overBudget: boolean;
  taskCounts: number[];
  overwrite: boolean;
}

/** Open and validate the source, build the target info and the plan. Writes nothing. */
export async function prepareIngest(opts: IngestOptions): Promise<PreparedIngest> {
  const source = await openImageStack(opts.source, { zRegex: opts.zRegex });
  const type = opts.type ?? "image";
  if (type === "segmentation") {
    if (source.channels !== 1) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${source.description}: a segmentation needs 1 channel, the slices have ${source.channels}`,
      );
    }
    if (!["uint8", "uint16", "uint32", "uint64"].includes(source.dtype)) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${source.description}: a segmentation needs unsigned integer labels, the slices are ${source.dtype}`,
      );
    }
  }
  const offset = opts.offset ?? [0, 0, 0];
  const encoding =
    opts.encoding ??
    (type === "segmentation" && source.dtype !== "uint8" && source.dtype !== "uint16"
      ? "compressed_segmentation"
      : "raw");
  checkEncoding(encoding, source, type);
  const scales = buildScales(
    {
      size: source.size,
      voxelOffset: offset,
      resolution: opts.resolution,
      chunkSize: opts.chunkSize ?? DEFAULTS.chunkSize,
      encoding,
      compressedSegmentationBlockSize:
        encoding === "compressed_segmentation" ? opts.csegBlockSize : undefined,
      jpegQuality: encoding === "jpeg" ? (opts.jpegQuality ?? 85) : undefined,
      pngLevel: encoding === "png" ? opts.pngLevel : undefined,
    },
    { factors: opts.factors ?? "auto", maxScales: opts.maxScales },
  );
  const workersForPlan = Math.max(1, Math.floor(opts.workers ?? DEFAULTS.workers));
  const memoryForPlan = opts.memoryBytes ?? DEFAULTS.memoryBytes;
  if (opts.shardSpec !== undefined || opts.sharded) {
    const perVoxel = bytesPerVoxel(source.dtype) * source.channels;
    // Shards are written whole by one task, so they must fit a task's share of the memory.
    const target =
      opts.shardBytes ?? Math.floor(memoryForPlan / workersForPlan / (TASK_OVERHEAD * 2));
    scales.forEach((scale, i) => {
      const given = Array.isArray(opts.shardSpec) ? opts.shardSpec[i] : opts.shardSpec;
      if (given !== undefined) {
        scale.sharding = validateShardingSpec(
          given,
          `--shard-spec${Array.isArray(opts.shardSpec) ? `[${i}]` : ""}`,
        );
        return;
      }
      const C = scale.chunk_sizes[0];
      scale.sharding = chooseShardingSpec({
        gridShape: [0, 1, 2].map((d) => Math.ceil(scale.size[d] / C[d])),
        chunkBytes: C[0] * C[1] * C[2] * perVoxel,
        targetShardBytes: Math.max(target, C[0] * C[1] * C[2] * perVoxel),
        encoding,
      });
    });
  }
  const info: PrecomputedInfo = parseInfo(
    {
      "@type": "neuroglancer_multiscale_volume",
      type,
      data_type: source.dtype,
      num_channels: source.channels,
      scales,
    },
    "the planned info",
  );
  const workers = Math.max(0, Math.floor(opts.workers ?? DEFAULTS.workers));
  const memoryBytes = opts.memoryBytes ?? DEFAULTS.memoryBytes;
  const plan = planStages(info.scales, {
    memoryBytes,
    workers: Math.max(1, workers),
    bytesPerVoxel: bytesPerVoxel(source.dtype),
    channels: source.channels,
  });
  const job: IngestJob = {
    version: 1,
    source: { kind: "image-stack", input: opts.source, zRegex: opts.zRegex },
    destination: opts.destination,
    info,
    offset,
    compress: opts.compress ?? "gzip",
    gzipLevel: opts.gzipLevel ?? DEFAULTS.gzipLevel,
    skipEmptyRatio: opts.skipEmptyRatio ?? 0,
    downsample: type === "segmentation" ? "mode" : "average",
    stages: plan.stages,
  };
  return {
    job,
    source,
    workers,
    memoryBytes,
    taskBudget: plan.taskBudget,
    overBudget: plan.overBudget,
    taskCounts: plan.stages.map((s) => countStageTasks(info.scales, s)),
    overwrite: opts.overwrite ?? false,
  };
}

/** The encoding/data combinations Neuroglancer can show, checked before any work (§1.3). */
function checkEncoding(encoding: Encoding, source: VolumeSource, type: string): void {
  const fail = (why: string) => {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--encoding ${encoding}: ${why} (${source.description} is ${source.dtype} × ${source.channels} channel(s))`,
    );
  };
  if (encoding === "jpeg" && (source.dtype !== "uint8" || ![1, 3].includes(source.channels))) {
    fail("jpeg holds uint8 data with 1 or 3 channels");
  }
  if (encoding === "jpeg" && type === "segmentation")
    fail("jpeg is lossy and would corrupt labels");
  if (encoding === "png" && (!["uint8", "uint16"].includes(source.dtype) || source.channels > 4)) {
    fail("png holds uint8 or uint16 data with 1 to 4 channels");
  }
  if (encoding === "compressed_segmentation" && !["uint32", "uint64"].includes(source.dtype)) {
    fail("compressed_segmentation holds uint32 or uint64 labels");
  }
  if (!["raw", "jpeg", "png", "compressed_segmentation"].includes(encoding)) {
    fail("voxport writes raw, jpeg, png and compressed_segmentation");
  }
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

export interface IngestHooks {
  onStart?(state: { resumed: number; total: number }): void;
  onProgress?(e: ProgressEvent): void;
  signal?: AbortSignal;
}

export interface IngestSummary {
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
async function checkDestination(
  store: KvStore,
  p: PreparedIngest,
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

async function clearDestination(store: KvStore): Promise<void> {
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

export async function runIngest(
  p: PreparedIngest,
  hooks: IngestHooks = {},
): Promise<IngestSummary> {
  const started = performance.now();
  const { job } = p;
  const store = openStore(job.destination);
  const summary: IngestSummary = {
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
    for await (const key of store.list(DONE_PREFIX)) done.add(key.slice(DONE_PREFIX.length));
  }
  hooks.onStart?.({ resumed: done.size, total: summary.tasks });

  const pool = p.workers > 0 ? new ThreadPool(p.workers) : undefined;
  const local = pool ? undefined : await openTaskContext(job);
  if (local) local.source = p.source;
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
    if (ev.voxelsRead && stage === 0) progress.sourceVoxels += ev.voxelsRead;
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

  // Publish: provenance, then info (the dataset becomes visible), then drop the job state.
  const provenance = {
    description: "",
    owners: [],
    processing: [
      {
        method: {
          task: "voxport ingest",
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
  for await (const key of store.list(".voxport/")) await store.delete(key);
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
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

export { markerKey };
