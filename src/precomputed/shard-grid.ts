/**
 * Where the chunks of a sharded scale live (../shared/docs/precomputed-format.md §4.3, §4.5):
 * chunk ids (compressed Morton codes of grid cells), shard file keys, and — for the identity
 * hash with enough bits — the aligned box of voxels each shard covers. Pure functions of the
 * scale, for the volume writer and for planners that align tasks to shards.
 *
 * With the identity hash and `preshift + minishard + shard bits ≥` the grid's Morton bits, shards
 * tile the chunk grid in boxes of `shardShapeVoxels(scale)` starting at voxel_offset, clipped at
 * the volume end. Otherwise (murmurhash3_x86_128, or too few bits) a shard gathers chunks from
 * all over the volume, and only the whole volume is a union of whole shards.
 */
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { type Box, boxToString } from "../ops/bbox.js";
import { chunkGridShape, chunkSize, resolveScalePath, scaleBounds, voxelOffset } from "./grid.js";
import { encodeCompressedMorton } from "./sharding/morton.js";
import {
  shardAndMinishard,
  shardFileName,
  shardShapeInChunks,
  shardsAreBoxes,
} from "./sharding/spec.js";
import type { ScaleInfo, ShardingSpec } from "./types.js";

const AXES = ["x", "y", "z"] as const;

/** The scale's sharding spec. @throws VoxportError("INVALID_ARGUMENT") if it is unsharded */
export function requireSharding(scale: ScaleInfo): ShardingSpec {
  if (!scale.sharding) {
    throw new VoxportError("INVALID_ARGUMENT", `scale ${scale.key} is not sharded`);
  }
  return scale.sharding;
}

/** The key of grid cell `cell` in the scale's sharded store: its compressed Morton code (§4.3). */
export function chunkId(scale: ScaleInfo, cell: readonly number[]): bigint {
  return encodeCompressedMorton(chunkGridShape(scale), cell);
}

/** Shard number holding grid cell `cell`. */
export function shardOfCell(scale: ScaleInfo, cell: readonly number[]): bigint {
  return shardAndMinishard(requireSharding(scale), chunkId(scale, cell)).shard;
}

/** Store key prefix of the scale (its key with `.`/`..` resolved; "" for the dataset root). */
export function scalePrefix(scale: ScaleInfo): string {
  return resolveScalePath(scale.key, "").replace(/\/$/, "");
}

/** Store key of shard file `shard`: `<scale key>/<hex>.shard`. */
export function shardKey(scale: ScaleInfo, shard: bigint | number): string {
  return resolveScalePath(scale.key, shardFileName(requireSharding(scale), shard));
}

/**
 * Whether every shard of the scale is one aligned box of chunks (identity hash and enough bits),
 * so that shards can be built box by box and tasks aligned to them.
 * @throws VoxportError("INVALID_ARGUMENT") if the scale is unsharded
 */
export function hasBoxShards(scale: ScaleInfo): boolean {
  return shardsAreBoxes(requireSharding(scale), chunkGridShape(scale));
}

/**
 * Shape in voxels of the box one shard covers, before clipping at the volume end: chunk size ×
 * `shardShapeInChunks` (TS `GetShardChunkHierarchy`). Shards start at voxel_offset.
 * @throws VoxportError("INVALID_ARGUMENT") if the scale is unsharded; ("UNSUPPORTED") if its
 *   shards are not boxes ({@link hasBoxShards})
 */
export function shardShapeVoxels(scale: ScaleInfo): Vec3 {
  const spec = requireSharding(scale);
  const grid = chunkGridShape(scale);
  if (!shardsAreBoxes(spec, grid)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `shards of scale ${scale.key} are not boxes of chunks (hash ${spec.hash}, ` +
        `preshift+minishard+shard bits ${spec.preshift_bits + spec.minishard_bits + spec.shard_bits} ` +
        `for chunk grid [${grid.join(",")}]); only the whole volume is a union of whole shards`,
    );
  }
  const s = shardShapeInChunks(spec, grid);
  const c = chunkSize(scale);
  return [s[0] * c[0], s[1] * c[1], s[2] * c[2]];
}

/**
 * The shard regions (voxels, clipped at the volume end) that intersect `box`, x fastest. Parts
 * of `box` outside the volume add none.
 * @throws as {@link shardShapeVoxels}
 */
export function shardBoxes(scale: ScaleInfo, box: Box): Box[] {
  const shape = shardShapeVoxels(scale);
  const o = voxelOffset(scale);
  const bounds = scaleBounds(scale);
  const lo: number[] = [];
  const hi: number[] = [];
  for (let d = 0; d < 3; d++) {
    const a = Math.max(box.min[d], bounds.min[d]) - o[d];
    const b = Math.min(box.max[d], bounds.max[d]) - o[d];
    if (b <= a) return [];
    lo.push(Math.floor(a / shape[d]));
    hi.push(Math.ceil(b / shape[d]));
  }
  const out: Box[] = [];
  for (let z = lo[2]; z < hi[2]; z++) {
    for (let y = lo[1]; y < hi[1]; y++) {
      for (let x = lo[0]; x < hi[0]; x++) {
        const k = [x, y, z];
        const min = k.map((v, d) => o[d] + v * shape[d]) as Vec3;
        const max = k.map((v, d) => Math.min(o[d] + (v + 1) * shape[d], bounds.max[d])) as Vec3;
        out.push({ min, max });
      }
    }
  }
  return out;
}

/**
 * Why `box` is not exactly a union of whole shards of the scale, or undefined when it is. With
 * box-shaped shards: inside the volume, non-empty, min on the shard grid, max on the shard grid
 * or at the volume end. Otherwise only the whole volume qualifies.
 * @throws VoxportError("INVALID_ARGUMENT") if the scale is unsharded
 */
export function shardMisalignment(scale: ScaleInfo, box: Box): string | undefined {
  const bounds = scaleBounds(scale);
  if (!hasBoxShards(scale)) {
    const whole = [0, 1, 2].every(
      (d) => box.min[d] === bounds.min[d] && box.max[d] === bounds.max[d],
    );
    if (whole) return undefined;
    const spec = requireSharding(scale);
    return (
      `shards of scale ${scale.key} are not boxes (hash ${spec.hash}), so only the whole volume ` +
      `${boxToString(bounds)} can be written`
    );
  }
  const shape = shardShapeVoxels(scale);
  for (let d = 0; d < 3; d++) {
    const [lo, hi, o, end] = [box.min[d], box.max[d], bounds.min[d], bounds.max[d]];
    const a = AXES[d];
    if (hi <= lo) return `axis ${a}: empty range [${lo}, ${hi})`;
    if (lo < o || hi > end) return `axis ${a}: [${lo}, ${hi}) is outside the volume [${o}, ${end})`;
    if ((lo - o) % shape[d] !== 0) {
      return `axis ${a}: min ${lo} is not on the shard grid (offset ${o}, shard ${shape[d]} voxels)`;
    }
    if ((hi - o) % shape[d] !== 0 && hi !== end) {
      return `axis ${a}: max ${hi} is neither on the shard grid (offset ${o}, shard ${shape[d]} voxels) nor the volume end ${end}`;
    }
  }
  return undefined;
}

export function isShardAligned(scale: ScaleInfo, box: Box): boolean {
  return shardMisalignment(scale, box) === undefined;
}
