import type { Vec3 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import { chunkGridShape } from "../../precomputed/grid.js";
import { parseInfo } from "../../precomputed/info.js";
import { buildScales } from "../../precomputed/pyramid.js";
import { compressedMortonBits } from "../../precomputed/sharding/morton.js";
import { SHARDED_TYPE, shardShapeInChunks } from "../../precomputed/sharding/spec.js";
import type { PrecomputedInfo, ShardingSpec } from "../../precomputed/types.js";
import type { IngestTask, StageSpec } from "../../tasks/job.js";
import { cumulativeFactor } from "../../tasks/plan.js";

/**
 * How emwrite's volume maps onto a voxport dataset — chosen so that a `/ngshard` block is
 * exactly one voxport ingest task, and the dataset is the one `voxport ingest` writes for the
 * same sections with the equivalent flags (`ingestFlags`):
 *
 *  - extent [width, height, maxz+1], voxel_offset 0 (emwrite's own convention: z = slice
 *    number; slices below minz are empty). Sizes are *not* padded to multiples of 1024
 *    (emwrite's padding quirk): Neuroglancer truncates edge chunks.
 *  - 64³ chunks, jpeg, factor 2×2×2 per level, at most 5 scales: at scale 4 a 1024³ block is
 *    one 64³ chunk, so every scale of a block is whole chunks and no two blocks ever write the
 *    same chunk. (emwrite's 6th scale is half a chunk per block, written read–modify–write by
 *    concurrent requests: a race we do not copy.)
 *  - sharding per scale: emwrite's spec (identity hash, minishard_bits 0, gzip minishard
 *    index, raw data since jpeg is compressed) with `preshift_bits` = 6 (256³-voxel shards) when
 *    that shard fits in the block at that scale, fewer bits when it does not (coarse scales,
 *    thin volumes), and `shard_bits` = exactly the Morton bits left. So a shard never straddles
 *    two blocks — at every scale, for every volume shape — instead of emwrite's fixed
 *    27/24/21 shard bits and unsharded scales ≥ 3.
 *  - the optional raw copy: one scale of 512³ raw chunks, gzip'd, unsharded (emwrite's layout).
 */

export const BLOCK = 1024;
export const CHUNK = 64;
export const MAX_SCALES = 5;
export const RAW_CHUNK = 512;
/** emwrite's shards hold 4×4×4 chunks (2^6). */
const EMWRITE_PRESHIFT = 6;

export interface EmwriteGeometry {
  width: number;
  height: number;
  minz: number;
  maxz: number;
  /** Isotropic voxel size, nm. */
  resolution: number;
  jpegQuality: number;
}

/** The largest emwrite-style shard whose box fits in `blockChunks` chunks on every axis. */
export function blockShardSpec(grid: readonly number[], blockChunks: Vec3): ShardingSpec {
  const total = compressedMortonBits(grid).reduce((a, b) => a + b, 0);
  let p = Math.min(EMWRITE_PRESHIFT, total);
  const spec = (preshift: number): ShardingSpec => ({
    "@type": SHARDED_TYPE,
    preshift_bits: preshift,
    hash: "identity",
    minishard_bits: 0,
    shard_bits: total - preshift,
    minishard_index_encoding: "gzip",
    data_encoding: "raw",
  });
  while (p > 0 && shardShapeInChunks(spec(p), grid).some((n, d) => n > blockChunks[d])) p--;
  return spec(p);
}

export function jpegInfo(g: EmwriteGeometry): PrecomputedInfo {
  const r = g.resolution;
  const scales = buildScales(
    {
      size: [g.width, g.height, g.maxz + 1],
      voxelOffset: [0, 0, 0],
      resolution: [r, r, r],
      chunkSize: [CHUNK, CHUNK, CHUNK],
      encoding: "jpeg",
      jpegQuality: g.jpegQuality,
    },
    { factors: [2, 2, 2], maxScales: MAX_SCALES },
  );
  scales.forEach((s, i) => {
    const F = cumulativeFactor(scales, i);
    const blockChunks = F.map((f) => BLOCK / f / CHUNK) as Vec3;
    s.sharding = blockShardSpec(chunkGridShape(s), blockChunks);
  });
  return parseInfo(
    {
      "@type": "neuroglancer_multiscale_volume",
      type: "image",
      data_type: "uint8",
      num_channels: 1,
      scales,
    },
    "the emwrite jpeg info",
  );
}

export function rawInfo(g: EmwriteGeometry): PrecomputedInfo {
  const r = g.resolution;
  const scales = buildScales(
    {
      size: [g.width, g.height, g.maxz + 1],
      resolution: [r, r, r],
      chunkSize: [RAW_CHUNK, RAW_CHUNK, RAW_CHUNK],
      encoding: "raw",
    },
    { maxScales: 1 },
  );
  return parseInfo(
    {
      "@type": "neuroglancer_multiscale_volume",
      type: "image",
      data_type: "uint8",
      num_channels: 1,
      scales,
    },
    "the emwrite raw info",
  );
}

/**
 * The `voxport ingest` flags that plan this very info for the same sections (the sharding
 * specs go in a file passed as `--shard-spec @FILE`).
 */
export function ingestFlags(g: EmwriteGeometry): { flags: string[]; shardSpecs: ShardingSpec[] } {
  const info = jpegInfo(g);
  const r = g.resolution;
  return {
    flags: [
      `--resolution=${r},${r},${r}`,
      "--encoding=jpeg",
      `--jpeg-quality=${g.jpegQuality}`,
      `--chunk-size=${CHUNK},${CHUNK},${CHUNK}`,
      "--factors=2,2,2",
      `--max-scales=${MAX_SCALES}`,
    ],
    shardSpecs: info.scales.map((s) => s.sharding!),
  };
}

/** Scale-0 box of block (cx, cy, cz), clipped to the volume; undefined when it lies outside
 * the volume or holds no section of minz..maxz. */
export function blockBox(g: EmwriteGeometry, start: Vec3): Box | undefined {
  const end: Vec3 = [g.width, g.height, g.maxz + 1];
  const min = start.map((c) => c * BLOCK) as Vec3;
  const max = min.map((v, d) => Math.min(v + BLOCK, end[d])) as Vec3;
  if (min.some((v, d) => v >= max[d])) return undefined;
  if (max[2] <= g.minz) return undefined;
  return { min, max };
}

/** The block as a one-stage voxport task: every scale of the info, task box at the top scale. */
export function blockTask(
  info: PrecomputedInfo,
  block: Box,
): { stage: StageSpec; task: IngestTask } {
  const scales = info.scales;
  const last = scales.length - 1;
  const F = cumulativeFactor(scales, last);
  const top = scales[last].size;
  const min = block.min.map((v, d) => v / F[d]) as Vec3;
  const max = block.max.map((v, d) => Math.min(Math.ceil(v / F[d]), top[d])) as Vec3;
  const taskChunks = F.map((f) => Math.max(1, BLOCK / f / CHUNK)) as Vec3;
  const stage: StageSpec = {
    first: 0,
    last,
    taskChunks,
    taskBytes: BLOCK ** 3 * 2,
  };
  const id = `block_${block.min[0] / BLOCK}_${block.min[1] / BLOCK}_${block.min[2] / BLOCK}`;
  return { stage, task: { id, stage: 0, box: { min, max } } };
}
