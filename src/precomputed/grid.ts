/**
 * The chunk grid of one scale and unsharded chunk names (../shared/docs/precomputed-format.md
 * §2.1, §2.2). All boxes are in the scale's own voxel coordinates, voxel_offset included.
 *
 * Only `chunk_sizes[0]` is used: every extra entry would be a full second copy of the data
 * (§1.3), which voxport neither writes nor needs to read.
 */

import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import type { ScaleInfo } from "./types.js";

const AXES = ["x", "y", "z"] as const;

export function voxelOffset(scale: ScaleInfo): Vec3 {
  return scale.voxel_offset ? [...scale.voxel_offset] : [0, 0, 0];
}

export function chunkSize(scale: ScaleInfo): Vec3 {
  return [...scale.chunk_sizes[0]];
}

/** [voxel_offset, voxel_offset + size). */
export function scaleBounds(scale: ScaleInfo): Box {
  const o = voxelOffset(scale);
  return { min: o, max: [o[0] + scale.size[0], o[1] + scale.size[1], o[2] + scale.size[2]] };
}

/** ceil(size / chunk) per axis; the grid starts at voxel_offset, not at 0. */
export function chunkGridShape(scale: ScaleInfo): Vec3 {
  const c = chunkSize(scale);
  return [
    Math.ceil(scale.size[0] / c[0]),
    Math.ceil(scale.size[1] / c[1]),
    Math.ceil(scale.size[2] / c[2]),
  ];
}

/** The voxels of grid cell `cell`, clipped at the upper volume bound (edge chunks are not padded). */
export function chunkBox(scale: ScaleInfo, cell: Vec3): Box {
  const o = voxelOffset(scale);
  const c = chunkSize(scale);
  const grid = chunkGridShape(scale);
  const min: Vec3 = [0, 0, 0];
  const max: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    const g = cell[d];
    if (!Number.isInteger(g) || g < 0 || g >= grid[d]) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `chunk cell [${cell.join(",")}] is outside the grid [${grid.join(",")}] of scale ${scale.key}`,
      );
    }
    min[d] = o[d] + g * c[d];
    max[d] = o[d] + Math.min((g + 1) * c[d], scale.size[d]);
  }
  return { min, max };
}

/** Grid cells [lo, hi) whose chunks intersect `box` (clipped to the volume; may be empty). */
export function chunkCellRange(scale: ScaleInfo, box: Box): Box {
  const o = voxelOffset(scale);
  const c = chunkSize(scale);
  const min: Vec3 = [0, 0, 0];
  const max: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    const lo = Math.max(box.min[d], o[d]) - o[d];
    const hi = Math.min(box.max[d], o[d] + scale.size[d]) - o[d];
    min[d] = Math.floor(lo / c[d]);
    max[d] = hi > lo ? Math.ceil(hi / c[d]) : min[d];
  }
  if (max.some((m, d) => m <= min[d])) return { min, max: [...min] };
  return { min, max };
}

/** Grid cells whose chunks intersect `box`, x fastest. Parts of `box` outside the volume add none. */
export function* chunkCellsInBox(scale: ScaleInfo, box: Box): Generator<Vec3> {
  const r = chunkCellRange(scale, box);
  for (let z = r.min[2]; z < r.max[2]; z++) {
    for (let y = r.min[1]; y < r.max[1]; y++) {
      for (let x = r.min[0]; x < r.max[0]; x++) yield [x, y, z];
    }
  }
}

/**
 * Why `box` is not a whole number of chunks of this scale, or undefined when it is: inside the
 * volume, non-empty, min on the grid, max on the grid or at the upper volume bound.
 */
export function chunkMisalignment(scale: ScaleInfo, box: Box): string | undefined {
  const bounds = scaleBounds(scale);
  const c = chunkSize(scale);
  for (let d = 0; d < 3; d++) {
    const [lo, hi, o, end] = [box.min[d], box.max[d], bounds.min[d], bounds.max[d]];
    const a = AXES[d];
    if (hi <= lo) return `axis ${a}: empty range [${lo}, ${hi})`;
    if (lo < o || hi > end) return `axis ${a}: [${lo}, ${hi}) is outside the volume [${o}, ${end})`;
    if ((lo - o) % c[d] !== 0) {
      return `axis ${a}: min ${lo} is not on the chunk grid (offset ${o}, chunk ${c[d]})`;
    }
    if ((hi - o) % c[d] !== 0 && hi !== end) {
      return `axis ${a}: max ${hi} is neither on the chunk grid (offset ${o}, chunk ${c[d]}) nor the volume end ${end}`;
    }
  }
  return undefined;
}

export function isChunkAligned(scale: ScaleInfo, box: Box): boolean {
  return chunkMisalignment(scale, box) === undefined;
}

/** The smallest chunk-aligned box holding `box ∩ volume` (empty box when they do not meet). */
export function expandToChunks(scale: ScaleInfo, box: Box): Box {
  const r = chunkCellRange(scale, box);
  const o = voxelOffset(scale);
  const c = chunkSize(scale);
  const b = scaleBounds(scale);
  const min: Vec3 = [0, 0, 0];
  const max: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    min[d] = o[d] + r.min[d] * c[d];
    max[d] = Math.min(o[d] + r.max[d] * c[d], b.max[d]);
  }
  return { min, max };
}

/** `<x0>-<x1>_<y0>-<y1>_<z0>-<z1>`; negatives keep their minus sign unescaped (`-65--1`). */
export function chunkName(box: Box): string {
  return `${box.min[0]}-${box.max[0]}_${box.min[1]}-${box.max[1]}_${box.min[2]}-${box.max[2]}`;
}

/** Store key of an unsharded chunk: `<scale key>/<chunk name>`, with `.`/`..` in the key resolved. */
export function chunkKey(scale: ScaleInfo, box: Box): string {
  return resolveScalePath(scale.key, chunkName(box));
}

/**
 * Resolve a relative `key` (which may hold `..`, §1.1; TS ResolveScaleKey) and append `name`.
 * A key that climbs above the dataset root cannot be addressed through the store.
 */
export function resolveScalePath(key: string, name: string): string {
  const parts: string[] = [];
  for (const p of key.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (parts.length === 0) {
        throw new VoxportError(
          "UNSUPPORTED",
          `scale key "${key}" points above the dataset root; only keys inside it are supported`,
        );
      }
      parts.pop();
    } else parts.push(p);
  }
  parts.push(name);
  return parts.join("/");
}
