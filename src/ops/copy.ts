/**
 * Copying voxels between blocks that sit at different places in one coordinate frame. This is
 * the inner loop of chunk cutting and assembling reads, so it moves whole x-runs with
 * TypedArray.set(subarray) and merges runs into planes or whole volumes when rows are contiguous.
 */
import { VoxportError } from "../errors.js";
import type { Block, TypedArray } from "./array.js";
import type { Box } from "./bbox.js";

type AnyArray = { set(a: ArrayLike<unknown>, offset: number): void };

function check(b: Block, bx: Box, name: string): void {
  for (let d = 0; d < 3; d++) {
    if (b.shape[d] !== bx.max[d] - bx.min[d]) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `copyBox: ${name} block shape [${b.shape.join(",")}] does not match its box ` +
          `[${bx.min.join(",")}]-[${bx.max.join(",")}]`,
      );
    }
  }
  if (b.data.length !== b.shape[0] * b.shape[1] * b.shape[2] * b.shape[3]) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `copyBox: ${name} block holds ${b.data.length} values, shape [${b.shape.join(",")}] needs ` +
        `${b.shape[0] * b.shape[1] * b.shape[2] * b.shape[3]}`,
    );
  }
}

/**
 * Copy the voxels of `srcBox ∩ dstBox`, all channels, from `src` (which covers `srcBox`) into
 * `dst` (which covers `dstBox`). Voxels of `dst` outside the intersection are left untouched.
 * Both blocks must have the same dtype and channel count. Returns the number of voxels copied
 * per channel.
 */
export function copyBox(src: Block, srcBox: Box, dst: Block, dstBox: Box): number {
  check(src, srcBox, "source");
  check(dst, dstBox, "destination");
  if (src.dtype !== dst.dtype || src.shape[3] !== dst.shape[3]) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `copyBox: cannot copy ${src.dtype}×${src.shape[3]} channels into ${dst.dtype}×${dst.shape[3]}`,
    );
  }
  const lo = [0, 1, 2].map((d) => Math.max(srcBox.min[d], dstBox.min[d]));
  const hi = [0, 1, 2].map((d) => Math.min(srcBox.max[d], dstBox.max[d]));
  const [nx, ny, nz] = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
  if (nx <= 0 || ny <= 0 || nz <= 0) return 0;

  const [sx, sy, sz] = src.shape;
  const [dx, dy, dz] = dst.shape;
  const channels = src.shape[3];
  const s = src.data as TypedArray;
  const d = dst.data as unknown as AnyArray;

  // Whole volumes (all channels) in one call when both blocks are exactly the intersection.
  if (nx === sx && nx === dx && ny === sy && ny === dy && nz === sz && nz === dz) {
    d.set(s, 0);
    return nx * ny * nz;
  }
  const sOrigin =
    lo[0] - srcBox.min[0] + sx * (lo[1] - srcBox.min[1] + sy * (lo[2] - srcBox.min[2]));
  const dOrigin =
    lo[0] - dstBox.min[0] + dx * (lo[1] - dstBox.min[1] + dy * (lo[2] - dstBox.min[2]));
  // Rows as wide as both blocks make a z-plane contiguous; planes as large as both blocks make a
  // whole channel contiguous.
  const rows = nx === sx && nx === dx;
  const planes = rows && ny === sy && ny === dy;
  for (let c = 0; c < channels; c++) {
    if (planes) {
      const so = sOrigin + sx * sy * sz * c;
      d.set(s.subarray(so, so + nx * ny * nz), dOrigin + dx * dy * dz * c);
      continue;
    }
    for (let z = 0; z < nz; z++) {
      const sPlane = sOrigin + sx * sy * (z + sz * c);
      const dPlane = dOrigin + dx * dy * (z + dz * c);
      if (rows) {
        d.set(s.subarray(sPlane, sPlane + nx * ny), dPlane);
        continue;
      }
      for (let y = 0; y < ny; y++) {
        const so = sPlane + sx * y;
        d.set(s.subarray(so, so + nx), dPlane + dx * y);
      }
    }
  }
  return nx * ny * nz;
}
