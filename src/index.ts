/** voxport's library API. The CLI (src/cli) is a thin layer over these. */
export { type ErrorCode, EXIT, isVoxportError, VoxportError } from "./errors.js";
export * from "./ops/array.js";
export * from "./ops/bbox.js";
export { downsample } from "./ops/downsample.js";
export { encodeNpy } from "./ops/npy.js";
export {
  type Affine2,
  composeAffine,
  invertAffine,
  outputExtent,
  parseAffine,
  sourceFootprint,
  warpAffine,
} from "./ops/resample.js";
export * from "./precomputed/index.js";
export {
  parseRegistry,
  parseSectionsFile,
  readSectionList,
  type SectionEntry,
  type SectionList,
} from "./sources/aligned/registry.js";
export { AlignedSource, openAligned } from "./sources/aligned/source.js";
export { type ChunkflowTask, parseChunkflowTask } from "./sources/aligned/task.js";
export { ImageStackSource, openImageStack } from "./sources/image-stack.js";
export { openSource } from "./sources/open.js";
export type { VolumeSource } from "./sources/source.js";
export type { SourceSpec } from "./sources/spec.js";
export * from "./storage/index.js";
export {
  DEFAULTS as INGEST_DEFAULTS,
  type IngestHooks,
  type IngestOptions,
  type IngestSummary,
  type PreparedIngest,
  type ProgressEvent,
  prepareIngest,
  runIngest,
} from "./tasks/ingest.js";
export type { IngestJob, IngestTask, StageSpec } from "./tasks/job.js";
export { planStages, stageTasks } from "./tasks/plan.js";
