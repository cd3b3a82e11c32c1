import type { Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import type { PrecomputedInfo } from "../precomputed/types.js";
import type { SourceSpec } from "../sources/spec.js";

/**
 * Everything a worker needs to run any task of one ingest, as plain JSON: it is written to the
 * destination (`.voxport/job.json`) before the first task runs, so a rerun can resume and a
 * worker on another machine can reopen the source and the destination from URLs alone.
 */
export interface IngestJob {
  version: 1;
  source: SourceSpec;
  destination: string;
  info: PrecomputedInfo;
  /** Scale-0 voxel that source voxel (0,0,0) lands on (equals scales[0].voxel_offset). */
  offset: Vec3;
  compress: "gzip" | "none";
  gzipLevel: number;
  /** ChunkFlow's nonzeroRatioThreshold: chunks with a smaller nonzero fraction are not written. */
  skipEmptyRatio: number;
  downsample: "average" | "mode";
  stages: StageSpec[];
}

export type { SourceSpec } from "../sources/spec.js";

/**
 * A stage produces scales `first..last` (inclusive). Its tasks are boxes of whole chunks of
 * scale `last`; each task reads its footprint from the source (stage 0) or from scale
 * `first - 1` already in the destination, and downsamples in memory level by level. When the
 * source is a precomputed dataset (convert), every stage is one scale copied from the same
 * scale of the source.
 */
export interface StageSpec {
  first: number;
  last: number;
  /** Task box size, in chunks of scale `last`. */
  taskChunks: Vec3;
  /** Estimated peak bytes one task holds. */
  taskBytes: number;
}

export interface IngestTask {
  id: string;
  stage: number;
  /** Box at scale `stages[stage].last`, whole chunks (clipped at the volume edge). */
  box: Box;
}

export function taskId(stage: number, b: Box): string {
  return `s${stage}_${b.min[0]}-${b.max[0]}_${b.min[1]}-${b.max[1]}_${b.min[2]}-${b.max[2]}`;
}

/** Keys the ingest keeps in the destination while it runs; removed when it completes. */
export const JOB_KEY = ".voxport/job.json";
export const DONE_PREFIX = ".voxport/done/";
