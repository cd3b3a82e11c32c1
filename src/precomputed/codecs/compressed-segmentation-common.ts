/**
 * Shared checks for the compressed_segmentation codec (precomputed-format.md §3.3).
 * The encoded chunk is a sequence of little-endian uint32 words; this module works on the host's
 * Uint32Array views, which are little-endian on every platform Node supports.
 */
import { VoxportError } from "../../errors.js";
import type { DataType, Shape4, Vec3 } from "../../ops/array.js";

/** Offsets in block headers are 24-bit (NG and TS both mask them). */
export const MAX_OFFSET = 0xffffff;

/** Words per value: 1 for uint32, 2 for uint64 (low word first). */
export function wordsPerValue(dtype: DataType): 1 | 2 {
  if (dtype === "uint32") return 1;
  if (dtype === "uint64") return 2;
  throw new VoxportError(
    "UNSUPPORTED",
    `compressed_segmentation supports uint32 and uint64, not ${dtype}`,
  );
}

export function checkShape(shape: readonly number[], blockSize: readonly number[]): void {
  if (shape.length !== 4 || !shape.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `compressed_segmentation: bad chunk shape [${shape}]`,
    );
  }
  if (blockSize.length !== 3 || !blockSize.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `compressed_segmentation: bad block size [${blockSize}]`,
    );
  }
}

/** Number of blocks per dimension for a chunk of shape `shape` (clipped) and block size. */
export function blockGrid(shape: Shape4 | Vec3, blockSize: Vec3): Vec3 {
  return [
    Math.ceil(shape[0] / blockSize[0]),
    Math.ceil(shape[1] / blockSize[1]),
    Math.ceil(shape[2] / blockSize[2]),
  ];
}
