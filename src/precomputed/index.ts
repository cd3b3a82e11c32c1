/** Neuroglancer precomputed volumes: info, chunk grid, pyramid metadata, codecs, read/write. */

export { compressedSegmentationCodec } from "./codecs/compressed-segmentation-codec.js";
export { DEFAULT_JPEG_QUALITY, jpegCodec } from "./codecs/jpeg-codec.js";
export { DEFAULT_PNG_LEVEL, pngCodec } from "./codecs/png-codec.js";
export { rawCodec } from "./codecs/raw.js";
export {
  type ChunkCodec,
  type CodecDirection,
  getCodec,
  knownEncodings,
  registerCodec,
  resolveCodec,
} from "./codecs/registry.js";
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
export {
  chunkId,
  hasBoxShards,
  isShardAligned,
  scalePrefix,
  shardBoxes,
  shardKey,
  shardMisalignment,
  shardOfCell,
  shardShapeVoxels,
} from "./shard-grid.js";
export type { Encoding, PrecomputedInfo, ScaleInfo, ShardingSpec } from "./types.js";
export {
  DEFAULT_CONCURRENCY,
  nonzeroBelow,
  PrecomputedVolume,
  type ReadOptions,
  type WriteChunksOptions,
  type WriteChunksResult,
  type WriteShardsOptions,
  type WriteShardsResult,
} from "./volume.js";
