/**
 * `raw` encoding (../shared/docs/precomputed-format.md §2.3, §3.1): the block's values in
 * Fortran [x,y,z,c] order, little-endian, no header. That is exactly a Block's memory layout,
 * so on little-endian hosts encoding is a view and decoding a view (or one copy if unaligned).
 */
import { endianness } from "node:os";
import { VoxportError } from "../../errors.js";
import {
  asBytes,
  type Block,
  bytesPerVoxel,
  type DataType,
  type Shape4,
  viewAs,
} from "../../ops/array.js";
import type { ScaleInfo } from "../types.js";
import type { ChunkCodec } from "./registry.js";

const BIG_ENDIAN_HOST = endianness() === "BE";

/** A copy of `bytes` with every `width`-byte word reversed (only used on big-endian hosts). */
function swapped(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = bytes[i + width - 1 - k];
  }
  return out;
}

function describe(shape: Shape4, dtype: DataType): string {
  return `${shape.join("×")} ${dtype}`;
}

export const rawCodec: ChunkCodec = {
  encoding: "raw",
  contentType: "application/octet-stream",
  transferGzip: true,

  /** Returns a view of `block.data` on little-endian hosts: do not mutate the block until written. */
  async encode(block: Block, _scale: ScaleInfo): Promise<Uint8Array> {
    const n = block.shape[0] * block.shape[1] * block.shape[2] * block.shape[3];
    if (block.data.length !== n) {
      throw new VoxportError(
        "CODEC",
        `raw encode: block holds ${block.data.length} values but its shape ${describe(block.shape, block.dtype)} needs ${n}`,
      );
    }
    const bytes = asBytes(block.data);
    const bpv = bytesPerVoxel(block.dtype);
    return BIG_ENDIAN_HOST && bpv > 1 ? swapped(bytes, bpv) : bytes;
  },

  async decode(
    bytes: Uint8Array,
    shape: Shape4,
    dtype: DataType,
    _scale: ScaleInfo,
  ): Promise<Block> {
    const bpv = bytesPerVoxel(dtype);
    const expected = shape[0] * shape[1] * shape[2] * shape[3] * bpv;
    if (bytes.byteLength !== expected) {
      throw new VoxportError(
        "CODEC",
        `raw chunk is ${bytes.byteLength} bytes, but ${describe(shape, dtype)} needs ${expected}`,
      );
    }
    const le = BIG_ENDIAN_HOST && bpv > 1 ? swapped(bytes, bpv) : bytes;
    return { dtype, shape: [...shape], data: viewAs(dtype, le) };
  },
};
