import type { Block, Vec3 } from "../ops/array.js";
import { type Box, boxShape, boxToString, intersect } from "../ops/bbox.js";
import { downsample } from "../ops/downsample.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openSource } from "../sources/open.js";
import type { VolumeSource } from "../sources/source.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { DONE_PREFIX, type IngestJob, type IngestTask, JOB_KEY } from "./job.js";
import { boxAtLevel, levelStep, scaleBox } from "./plan.js";

/** What one worker holds open while it runs tasks of one job. */
export interface TaskContext {
  job: IngestJob;
  store: KvStore;
  volume: PrecomputedVolume;
  source?: VolumeSource;
  /** The dataset being converted, for jobs whose source is precomputed. */
  sourceVolume?: PrecomputedVolume;
}

export interface TaskResult {
  chunksWritten: number;
  chunksSkipped: number;
  bytesWritten: number;
  /** Voxels read from the source (stage 0) or from the level below (later stages). */
  voxelsRead: number;
}

/** Emitted while a task runs, so long tasks still move a progress bar. */
export interface TaskEvent {
  /** Voxels just read (source or level below). */
  voxelsRead?: number;
  /** Chunks just written or skipped at one scale. */
  chunks?: number;
}

export async function openTaskContext(job: IngestJob): Promise<TaskContext> {
  const store = openStore(job.destination);
  const volume = PrecomputedVolume.create(store, job.info);
  return { job, store, volume };
}

async function sourceOf(ctx: TaskContext): Promise<VolumeSource> {
  ctx.source ??= await openSource(ctx.job.source);
  return ctx.source;
}

async function sourceVolumeOf(ctx: TaskContext): Promise<PrecomputedVolume> {
  ctx.sourceVolume ??= await PrecomputedVolume.open(openStore(ctx.job.source.input));
  return ctx.sourceVolume;
}

export function markerKey(task: IngestTask): string {
  return `${DONE_PREFIX}${task.id}`;
}

/**
 * Run one task: read its footprint, write every chunk of every scale of its stage, then record
 * it as done. Idempotent: chunks are written whole and atomically, so a task that is run twice
 * (after a crash, or by two workers) writes the same bytes twice.
 */
export async function runIngestTask(
  ctx: TaskContext,
  task: IngestTask,
  signal?: AbortSignal,
  emit?: (e: TaskEvent) => void,
): Promise<TaskResult> {
  const { job } = ctx;
  const scales = job.info.scales;
  const stage = job.stages[task.stage];
  if (!stage) throw new Error(`task ${task.id} names stage ${task.stage}, which the job lacks`);
  const result: TaskResult = { chunksWritten: 0, chunksSkipped: 0, bytesWritten: 0, voxelsRead: 0 };

  let level = stage.first;
  let levelBox = boxAtLevel(scales, stage, task.box, level);
  let block: Block;
  if (job.source.kind === "precomputed") {
    // convert: the same scale of the source, re-encoded (stages are one scale each).
    block = await (await sourceVolumeOf(ctx)).read(level, levelBox, { signal });
    result.voxelsRead += block.data.length;
    emit?.({ voxelsRead: block.data.length });
  } else if (level === 0) {
    const src = await sourceOf(ctx);
    const o = job.offset;
    const srcBox: Box = {
      min: [levelBox.min[0] - o[0], levelBox.min[1] - o[1], levelBox.min[2] - o[2]],
      max: [levelBox.max[0] - o[0], levelBox.max[1] - o[1], levelBox.max[2] - o[2]],
    };
    block = await src.read(srcBox, { signal });
    result.voxelsRead += block.data.length;
    emit?.({ voxelsRead: block.data.length });
  } else {
    // Read the footprint one level down from the destination, then downsample it.
    const f = levelStep(scales, level);
    const below = intersect(
      {
        min: levelBox.min.map((v, d) => v * f[d]) as Vec3,
        max: levelBox.max.map((v, d) => v * f[d]) as Vec3,
      },
      scaleBox(scales[level - 1]),
    );
    const input = await ctx.volume.read(level - 1, below, { signal });
    result.voxelsRead += input.data.length;
    emit?.({ voxelsRead: input.data.length });
    block = reduce(input, below, f, job.downsample, levelBox, task);
  }

  for (;;) {
    signal?.throwIfAborted();
    const w = await ctx.volume.writeChunks(level, levelBox, block, {
      compress: job.compress,
      gzipLevel: job.gzipLevel,
      skipEmptyRatio: job.skipEmptyRatio,
      zeroSkipped: level < stage.last,
      signal,
    });
    result.chunksWritten += w.written;
    result.chunksSkipped += w.skipped;
    result.bytesWritten += w.bytes;
    emit?.({ chunks: w.written + w.skipped });
    if (level === stage.last) break;
    const next = boxAtLevel(scales, stage, task.box, level + 1);
    block = reduce(block, levelBox, levelStep(scales, level + 1), job.downsample, next, task);
    levelBox = next;
    level++;
  }
  await ctx.store.put(markerKey(task), new Uint8Array(0), { contentType: "text/plain" });
  // A queue may run a task twice (its lease ran out while it ran; SQS even accepts the stale
  // receipt handle), and the late run may end after the job was published.
  await dropStaleMarker(ctx.store, markerKey(task));
  return result;
}

/**
 * After a task wrote its done marker: if the job was published meanwhile (job.json gone, info
 * there), the marker would bring `.voxport/` back into the finished dataset, so remove it.
 * With publishDataset's second listing (run.ts) no marker stays, whatever the interleaving.
 */
export async function dropStaleMarker(store: KvStore, marker: string): Promise<boolean> {
  if ((await store.stat(JOB_KEY)) !== undefined) return false;
  if ((await store.stat("info")) === undefined) return false;
  await store.delete(marker);
  return true;
}

function reduce(
  input: Block,
  inputBox: Box,
  factor: Vec3,
  method: "average" | "mode",
  expected: Box,
  task: IngestTask,
): Block {
  const out = downsample(input, inputBox.min, factor, method);
  const shape = boxShape(expected);
  for (let d = 0; d < 3; d++) {
    if (out.origin[d] !== expected.min[d] || out.block.shape[d] !== shape[d]) {
      throw new Error(
        `task ${task.id}: downsampling ${boxToString(inputBox)} by ${factor} gave origin ` +
          `${out.origin} shape ${out.block.shape.slice(0, 3)}, expected ${boxToString(expected)}`,
      );
    }
  }
  return out.block;
}
