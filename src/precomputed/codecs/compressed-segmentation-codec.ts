/**
 * The `compressed_segmentation` ChunkCodec: wraps the pure encoder/decoder
 * (compressed-segmentation.ts) with the scale's `compressed_segmentation_block_size`. Chunks are
 * worth gzip on top (3–10×, §3.3), hence `transferGzip`.
 */
import { VoxportError } from "../../errors.js";
import type { Block, DataType, Shape4, Vec3 } from "../../ops/array.js";
import type { ScaleInfo } from "../types.js";
import { requireDtypeChannels } from "./codec-checks.js";
import {
  decodeCompressedSegmentation,
  encodeCompressedSegmentation,
} from "./compressed-segmentation.js";
import type { ChunkCodec } from "./registry.js";

function blockSize(scale: ScaleInfo): Vec3 {
  const b = scale.compressed_segmentation_block_size;
  if (!Array.isArray(b) || b.length !== 3 || !b.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new VoxportError(
      "INVALID_INFO",
      `compressed_segmentation needs compressed_segmentation_block_size, three positive integers (got ${JSON.stringify(b)})`,
    );
  }
  return b;
}

export const compressedSegmentationCodec: ChunkCodec = {
  encoding: "compressed_segmentation",
  // CV stores `image/x.compressed_segmentation`; nothing reads it, and octet-stream is safe.
  contentType: "application/octet-stream",
  transferGzip: true,

  validate(scale: ScaleInfo, dtype: DataType, channels: number): void {
    requireDtypeChannels(scale, dtype, channels, ["uint32", "uint64"], "any");
    blockSize(scale);
  },

  async encode(block: Block, scale: ScaleInfo): Promise<Uint8Array> {
    return encodeCompressedSegmentation(block, blockSize(scale));
  },

  async decode(
    bytes: Uint8Array,
    shape: Shape4,
    dtype: DataType,
    scale: ScaleInfo,
  ): Promise<Block> {
    return decodeCompressedSegmentation(bytes, shape, dtype, blockSize(scale));
  },
};
