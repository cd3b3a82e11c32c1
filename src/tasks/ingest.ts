import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { bytesPerVoxel } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { parseInfo } from "../precomputed/info.js";
import { buildScales } from "../precomputed/pyramid.js";
import type { Encoding, PrecomputedInfo } from "../precomputed/types.js";
import { alignedSpecOf } from "../sources/aligned/spec.js";
import { ContrastSource, withContrast } from "../sources/contrast.js";
import { openSource } from "../sources/open.js";
import type { SourceSpec } from "../sources/spec.js";
import { detectFileKind } from "../sources/tiff/detect.js";
import type { IngestJob } from "./job.js";
import { applySharding, checkEncoding, type ShardingOptions } from "./layout.js";
import { countStageTasks, planStages } from "./plan.js";
import { type JobHooks, type JobSummary, type PreparedJob, runJob } from "./run.js";

export interface RunOptions {
  /** Total memory budget for all workers, bytes. */
  memoryBytes?: number;
  /** Worker threads; 0 runs tasks on the calling thread. */
  workers?: number;
  compress?: "gzip" | "none";
  gzipLevel?: number;
  overwrite?: boolean;
}

export interface EncodingOptions {
  encoding?: Encoding;
  /** jpeg quality 1–100 (default 85, as CloudVolume). */
  jpegQuality?: number;
  /** png zlib level 0–9 (default 6). */
  pngLevel?: number;
  /** compressed_segmentation block size (default 8,8,8). */
  csegBlockSize?: Vec3;
}

export interface IngestOptions extends RunOptions, EncodingOptions, ShardingOptions {
  source: string;
  destination: string;
  /** Voxel size in nm at full resolution. */
  resolution: Vec3;
  /** Scale-0 voxel_offset. */
  offset?: Vec3;
  type?: "image" | "segmentation";
  chunkSize?: Vec3;
  factors?: "auto" | Vec3;
  maxScales?: number;
  skipEmptyRatio?: number;
  zRegex?: string;
  /** Remote sources: a regex selecting the slice objects under the prefix. */
  filter?: string;
  /** Aligned sections: the output extent in the list's global coordinates (from --task). */
  box?: Box;
  /** Aligned float32 sections: NaN becomes 0 (ChunkFlow's isRemoveNaN). */
  removeNaN?: boolean;
  /** Map voxels to uint8 through a window, or one sampled from the source (src/sources/contrast.ts). */
  contrast?: "auto" | [number, number];
  /** Image stacks: missing z numbers (and tiles) read as zeros instead of failing. */
  allowGaps?: boolean;
}

export const DEFAULTS = {
  chunkSize: [64, 64, 64] as Vec3,
  gzipLevel: 6,
  memoryBytes: 2 * 1024 ** 3,
  workers: 2,
};

/** Kept for the library API: an ingest is a job like any other. */
export type PreparedIngest = PreparedJob;
export type IngestSummary = JobSummary;
export type IngestHooks = JobHooks;
export type { ProgressEvent } from "./run.js";
export const runIngest = runJob;

/** Which kind of input the ingest options name. One place, so new kinds add one case. */
export function sourceSpecOf(opts: IngestOptions): SourceSpec {
  if (opts.source.startsWith("render://")) return { kind: "render", input: opts.source };
  const aligned = alignedSpecOf(opts);
  if (aligned) return aligned;
  const file = detectFileKind(opts.source);
  if (file !== undefined) return { kind: file, input: opts.source };
  return {
    kind: "image-stack",
    input: opts.source,
    zRegex: opts.zRegex,
    filter: opts.filter,
    ...(opts.allowGaps ? { allowGaps: true } : {}),
  };
}

/** Open and validate the source, build the target info and the plan. Writes nothing. */
export async function prepareIngest(opts: IngestOptions): Promise<PreparedJob> {
  let sourceSpec = sourceSpecOf(opts);
  let source = await openSource(sourceSpec);
  const type = opts.type ?? "image";
  if (opts.contrast !== undefined) {
    // Resolved here, once: the job stores numbers, so every worker maps voxels alike.
    ({ spec: sourceSpec, source } = await withContrast(sourceSpec, source, opts.contrast, type));
  }
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
  const offset = opts.offset ?? source.voxelOffset ?? [0, 0, 0];
  // Labels that compressed_segmentation can hold get it by default: it is what viewers expect.
  const encoding =
    opts.encoding ??
    (type === "segmentation" && (source.dtype === "uint32" || source.dtype === "uint64")
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
  const workers = Math.max(0, Math.floor(opts.workers ?? DEFAULTS.workers));
  const memoryBytes = opts.memoryBytes ?? DEFAULTS.memoryBytes;
  applySharding(scales, opts, source, { memoryBytes, workers: Math.max(1, workers) });
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
  const plan = planStages(info.scales, {
    memoryBytes,
    workers: Math.max(1, workers),
    // A contrast window holds the source's own block beside the uint8 one while it maps.
    bytesPerVoxel:
      bytesPerVoxel(source.dtype) +
      (source instanceof ContrastSource ? bytesPerVoxel(source.inner.dtype) : 0),
    channels: source.channels,
  });
  const job: IngestJob = {
    version: 1,
    source: sourceSpec,
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
    sourceDescription: source.description,
    sourceSize: source.size,
    workers,
    memoryBytes,
    taskBudget: plan.taskBudget,
    overBudget: plan.overBudget,
    taskCounts: plan.stages.map((s) => countStageTasks(info.scales, s)),
    overwrite: opts.overwrite ?? false,
  };
}
