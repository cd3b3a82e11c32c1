/**
 * compressed_segmentation decoder (precomputed-format.md §3.3; NG `decode_common.ts`). Every
 * offset is bounds-checked, so malformed input raises VoxportError("CODEC") instead of reading
 * garbage. Offsets are read as 24 bits, as NG and TS do.
 */
import { VoxportError } from "../../errors.js";
import type { Block, DataType, Shape4, Vec3 } from "../../ops/array.js";
import { blockGrid, checkShape, wordsPerValue } from "./compressed-segmentation-common.js";

function corrupt(message: string): VoxportError {
  return new VoxportError("CODEC", `compressed_segmentation: ${message}`);
}

function decodeChannel(
  words: Uint32Array,
  base: number,
  dst: Uint32Array,
  w: 1 | 2,
  chanBase: number,
  shape: Vec3,
  blockSize: Vec3,
  channel: number,
): void {
  const [sx, sy, sz] = shape;
  const [bx, by, bz] = blockSize;
  const [gx, gy, gz] = blockGrid(shape, blockSize);
  const blockVoxels = bx * by * bz;
  const n = words.length;
  if (base + 2 * gx * gy * gz > n) {
    throw corrupt(`channel ${channel}: ${gx * gy * gz} block headers do not fit in ${n} words`);
  }
  let h = base;
  for (let iz = 0; iz < gz; iz++) {
    const ez = Math.min(bz, sz - iz * bz);
    for (let iy = 0; iy < gy; iy++) {
      const ey = Math.min(by, sy - iy * by);
      for (let ix = 0; ix < gx; ix++, h += 2) {
        const ex = Math.min(bx, sx - ix * bx);
        const tbl = base + (words[h] & 0xffffff);
        const bits = words[h] >>> 24;
        const ev = base + (words[h + 1] & 0xffffff);
        const where = () => `channel ${channel} block (${ix},${iy},${iz})`;
        if (bits > 32 || (bits & (bits - 1)) !== 0)
          throw corrupt(`${where()}: encoded bits ${bits}`);
        const evWords = bits === 0 ? 0 : Math.ceil((bits * blockVoxels) / 32);
        if (ev + evWords > n) {
          throw corrupt(`${where()}: encoded values [${ev}, ${ev + evWords}) past end ${n}`);
        }
        const out0 = chanBase + ix * bx + sx * (iy * by + sy * iz * bz);
        if (bits === 0) {
          if (tbl + w > n) throw corrupt(`${where()}: lookup table at ${tbl} past end ${n}`);
          const lo = words[tbl];
          const hi = words[tbl + 1];
          for (let z = 0; z < ez; z++) {
            for (let y = 0; y < ey; y++) {
              const d = out0 + sx * (y + sy * z);
              if (w === 1) dst.fill(lo, d, d + ex);
              else
                for (let x = 0; x < ex; x++) {
                  dst[2 * (d + x)] = lo;
                  dst[2 * (d + x) + 1] = hi;
                }
            }
          }
          continue;
        }
        const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
        let maxIdx = 0;
        for (let z = 0; z < ez; z++) {
          for (let y = 0; y < ey; y++) {
            const d = out0 + sx * (y + sy * z);
            const p = bx * (y + by * z);
            for (let x = 0; x < ex; x++) {
              const bp = (p + x) * bits;
              const idx = ((words[ev + (bp >>> 5)] >>> (bp & 31)) & mask) >>> 0;
              if (idx > maxIdx) maxIdx = idx;
              if (w === 1) dst[d + x] = words[tbl + idx];
              else {
                dst[2 * (d + x)] = words[tbl + 2 * idx];
                dst[2 * (d + x) + 1] = words[tbl + 2 * idx + 1];
              }
            }
          }
        }
        if (tbl + w * (maxIdx + 1) > n) {
          throw corrupt(`${where()}: lookup table entry ${maxIdx} at ${tbl} past end ${n}`);
        }
      }
    }
  }
}

/**
 * Decode a compressed_segmentation chunk of clipped shape `shape` ([x, y, z, channels]).
 * @throws VoxportError("CODEC") when the bytes are malformed or do not fit the shape;
 *   ("UNSUPPORTED") for dtypes other than uint32/uint64
 */
export function decodeCompressedSegmentation(
  bytes: Uint8Array,
  shape: Shape4,
  dtype: DataType,
  blockSize: Vec3,
): Block {
  const w = wordsPerValue(dtype);
  checkShape(shape, blockSize);
  if (bytes.byteLength % 4 !== 0) {
    throw corrupt(`${bytes.byteLength} bytes is not a whole number of 32-bit words`);
  }
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const [sx, sy, sz, nc] = shape;
  const voxels = sx * sy * sz;
  if (words.length < nc) throw corrupt(`${words.length} words cannot hold ${nc} channel offsets`);
  const data = w === 1 ? new Uint32Array(voxels * nc) : new BigUint64Array(voxels * nc);
  const dst = w === 1 ? (data as Uint32Array) : new Uint32Array(data.buffer);
  for (let c = 0; c < nc; c++) {
    const base = words[c];
    if (base < nc || base >= words.length) {
      throw corrupt(`channel ${c} offset ${base} outside [${nc}, ${words.length})`);
    }
    decodeChannel(words, base, dst, w, c * voxels, [sx, sy, sz], blockSize, c);
  }
  return { dtype, shape: [sx, sy, sz, nc], data };
}
