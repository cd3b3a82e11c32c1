/** Neuroglancer precomputed volumes: info, chunk grid, pyramid metadata, codecs, read/write. */

export { rawCodec } from "./codecs/raw.js";
export { type ChunkCodec, getCodec, knownEncodings, registerCodec } from "./codecs/registry.js";
export {
  chunkBox,
  chunkCellRange,
  chunkCellsInBox,
  chunkGridShape,
  chunkKey,
  chunkMisalignment,
  chunkName,
  chunkSize,
  expandToChunks,
  isChunkAligned,
  resolveScalePath,
  scaleBounds,
  voxelOffset,
} from "./grid.js";
export { ENCODINGS, formatPath, parseInfo, serializeInfo } from "./info.js";
export {
  type BaseScale,
  buildScales,
  chooseFactor,
  downsampleExtent,
  formatResolution,
  levelFactor,
  type PyramidOptions,
  scaleKey,
} from "./pyramid.js";
export type { Encoding, PrecomputedInfo, ScaleInfo, ShardingSpec } from "./types.js";
export {
  DEFAULT_CONCURRENCY,
  nonzeroBelow,
  PrecomputedVolume,
  type ReadOptions,
  type WriteChunksOptions,
  type WriteChunksResult,
} from "./volume.js";
