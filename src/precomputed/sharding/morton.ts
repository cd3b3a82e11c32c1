/**
 * Compressed Morton (Z-order) codes: the uint64 chunk key of a sharded volume
 * (precomputed-format.md §4.3; NG util/zorder.ts, TS EncodeCompressedZIndex, CV common.py).
 *
 * Bits are interleaved x, y, z (x in the LSB), and a dimension drops out of the round-robin once
 * its `bitLength(grid - 1)` bits are used up. Works for any number of dimensions (the annotation
 * spatial index uses the same rule). Grid extents are limited to 2^32 per dimension.
 */
import { VoxportError } from "../../errors.js";

const TWO32 = 0x1_0000_0000;

/** Number of bits needed to write `n` (a non-negative integer): 0 for 0, 1 for 1, 2 for 2..3, … */
export function bitLength(n: number): number {
  if (n < TWO32) return 32 - Math.clz32(n);
  return 32 + bitLength(Math.floor(n / TWO32));
}

/** Bits per dimension: `bitLength(grid[d] - 1)`, i.e. ceil(log2(grid[d])); their sum is ≤ 64. */
export function compressedMortonBits(gridShape: readonly number[]): number[] {
  let total = 0;
  const bits = gridShape.map((g, d) => {
    if (!Number.isInteger(g) || g < 1 || g > TWO32) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `grid shape [${gridShape}]: dimension ${d} must be an integer in [1, 2^32]`,
      );
    }
    const b = bitLength(g - 1);
    total += b;
    return b;
  });
  if (total > 64) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `grid shape [${gridShape}] needs ${total} Morton bits; at most 64 fit a uint64 key`,
    );
  }
  return bits;
}

/**
 * The Morton bit order: entry j is the dimension that supplies bit j of the code. Its length is
 * the total number of bits.
 */
export function mortonBitOrder(bits: readonly number[]): number[] {
  const order: number[] = [];
  const maxBits = Math.max(0, ...bits);
  for (let i = 0; i < maxBits; i++) {
    for (let d = 0; d < bits.length; d++) if (i < bits[d]) order.push(d);
  }
  return order;
}

/**
 * Compressed Morton code of grid cell `cell` (chunk indices) in a grid of shape `gridShape`.
 * @throws VoxportError("INVALID_ARGUMENT") if the cell lies outside the grid
 */
export function encodeCompressedMorton(
  gridShape: readonly number[],
  cell: readonly number[],
): bigint {
  const bits = compressedMortonBits(gridShape);
  if (cell.length !== bits.length) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `cell [${cell}] has ${cell.length} dimensions, grid [${gridShape}] has ${bits.length}`,
    );
  }
  for (let d = 0; d < bits.length; d++) {
    const g = cell[d];
    if (!Number.isInteger(g) || g < 0 || g >= gridShape[d]) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `cell [${cell}] is outside the chunk grid [${gridShape}]`,
      );
    }
  }
  // Accumulate the code in two 32-bit halves; one BigInt is made at the end.
  let lo = 0;
  let hi = 0;
  let j = 0;
  const maxBits = Math.max(0, ...bits);
  for (let i = 0; i < maxBits; i++) {
    for (let d = 0; d < bits.length; d++) {
      if (i >= bits[d]) continue;
      const bit = (cell[d] >>> i) & 1;
      if (j < 32) lo |= bit << j;
      else hi |= bit << (j - 32);
      j++;
    }
  }
  return BigInt(lo >>> 0) | (BigInt(hi >>> 0) << 32n);
}

/**
 * Inverse of {@link encodeCompressedMorton}. A code can decode to a cell outside the grid when a
 * grid extent is not a power of two; such codes never name a real chunk.
 * @throws VoxportError("INVALID_ARGUMENT") if `code` has bits beyond the grid's total bit count
 */
export function decodeCompressedMorton(gridShape: readonly number[], code: bigint): number[] {
  const bits = compressedMortonBits(gridShape);
  let total = 0;
  for (const b of bits) total += b;
  if (code < 0n || code >> BigInt(total) !== 0n) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `Morton code ${code} does not fit the ${total} bits of grid [${gridShape}]`,
    );
  }
  const lo = Number(code & 0xffff_ffffn);
  const hi = Number(code >> 32n);
  const cell = new Array<number>(bits.length).fill(0);
  let j = 0;
  const maxBits = Math.max(0, ...bits);
  for (let i = 0; i < maxBits; i++) {
    for (let d = 0; d < bits.length; d++) {
      if (i >= bits[d]) continue;
      const bit = j < 32 ? (lo >>> j) & 1 : (hi >>> (j - 32)) & 1;
      cell[d] += bit * 2 ** i;
      j++;
    }
  }
  return cell;
}

/** Chunk grid shape `ceil(size / chunkSize)` (voxel_offset plays no part). */
export function chunkGridShape(size: readonly number[], chunkSize: readonly number[]): number[] {
  return size.map((s, d) => Math.ceil(s / chunkSize[d]));
}
