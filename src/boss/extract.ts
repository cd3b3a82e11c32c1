import type { Block, TypedArray } from "../ops/array.js";
import { allocate } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import type { BossJob } from "./job.js";

/**
 * Cut one block out of a block read from the source, as the C-order (z, y, x) array the BOSS
 * takes. voxport blocks are Fortran-order [x, y, z], which is the same memory order (x varies
 * fastest), so this copies whole rows. Annotation channels are uint64: smaller label types are
 * widened. Returns undefined when every voxel is zero: ndpush (and intern since 2020) never
 * posts such blocks, so black regions are simply not written.
 */
export function extractBlock(
  read: Block,
  readOrigin: readonly number[],
  b: Box,
  datatype: BossJob["datatype"],
): TypedArray | undefined {
  const [sx, sy] = read.shape;
  const w = b.max[0] - b.min[0];
  const h = b.max[1] - b.min[1];
  const d = b.max[2] - b.min[2];
  const out = allocate(datatype, w * h * d);
  const widen = datatype === "uint64" && read.dtype !== "uint64";
  const src = read.data;
  let nonzero = false;
  let o = 0;
  for (let z = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      const start =
        b.min[0] -
        readOrigin[0] +
        sx * (b.min[1] - readOrigin[1] + y + sy * (b.min[2] - readOrigin[2] + z));
      if (widen) {
        const dst = out as BigUint64Array;
        for (let x = 0; x < w; x++) {
          const v = src[start + x] as number;
          if (v !== 0) nonzero = true;
          dst[o + x] = BigInt(v);
        }
      } else {
        const row = src.subarray(start, start + w);
        (out as Exclude<TypedArray, BigUint64Array>).set(row as never, o);
        if (!nonzero) {
          for (let x = 0; x < w; x++) {
            if (row[x] !== 0 && row[x] !== 0n) {
              nonzero = true;
              break;
            }
          }
        }
      }
      o += w;
    }
  }
  return nonzero ? out : undefined;
}
