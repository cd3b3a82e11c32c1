import { VoxportError } from "../errors.js";
import type { DataType } from "../ops/array.js";
import { bytesPerVoxel } from "../ops/array.js";
import { chooseShardingSpec, validateShardingSpec } from "../precomputed/sharding/spec.js";
import type { Encoding, ScaleInfo } from "../precomputed/types.js";
import { TASK_OVERHEAD } from "./plan.js";

/** Choices about how scales are stored, shared by `ingest` and `convert`. */

export interface ShardingOptions {
  /** Shard every scale, with parameters chosen per scale from `shardBytes`. */
  sharded?: boolean;
  /** Explicit sharding spec(s): one object for every scale, or an array with one per scale. */
  shardSpec?: unknown;
  /** Target uncompressed bytes per shard (default: from the per-task memory budget). */
  shardBytes?: number;
}

export interface DataDescription {
  dtype: DataType;
  channels: number;
  /** Names the data in errors, e.g. the source folder. */
  description: string;
}

/** The encoding/data combinations Neuroglancer can show, checked before any work (§1.3). */
export function checkEncoding(encoding: Encoding, data: DataDescription, type: string): void {
  const fail = (why: string) => {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--encoding ${encoding}: ${why} (${data.description} is ${data.dtype} × ${data.channels} channel(s))`,
    );
  };
  if (!["raw", "jpeg", "png", "compressed_segmentation"].includes(encoding)) {
    fail("voxport writes raw, jpeg, png and compressed_segmentation");
  }
  if (encoding === "jpeg" && (data.dtype !== "uint8" || ![1, 3].includes(data.channels))) {
    fail("jpeg holds uint8 data with 1 or 3 channels");
  }
  if (encoding === "jpeg" && type === "segmentation")
    fail("jpeg is lossy and would corrupt labels");
  if (encoding === "png" && (!["uint8", "uint16"].includes(data.dtype) || data.channels > 4)) {
    fail("png holds uint8 or uint16 data with 1 to 4 channels");
  }
  if (encoding === "compressed_segmentation" && !["uint32", "uint64"].includes(data.dtype)) {
    fail("compressed_segmentation holds uint32 or uint64 labels");
  }
}

/**
 * Set `sharding` on every scale: an explicit spec wins; otherwise parameters are chosen per scale
 * so that one shard holds about `shardBytes` of uncompressed voxels. Shards are written whole by
 * one task, so the default target is a quarter of a task's memory share.
 */
export function applySharding(
  scales: ScaleInfo[],
  opts: ShardingOptions,
  data: DataDescription,
  plan: { memoryBytes: number; workers: number },
): void {
  if (opts.shardSpec === undefined && !opts.sharded) return;
  const perVoxel = bytesPerVoxel(data.dtype) * data.channels;
  const target =
    opts.shardBytes ??
    Math.floor(plan.memoryBytes / Math.max(1, plan.workers) / (TASK_OVERHEAD * 2));
  scales.forEach((scale, i) => {
    const list = Array.isArray(opts.shardSpec);
    const given = list ? (opts.shardSpec as unknown[])[i] : opts.shardSpec;
    if (given !== undefined) {
      scale.sharding = validateShardingSpec(given, `--shard-spec${list ? `[${i}]` : ""}`);
      return;
    }
    const C = scale.chunk_sizes[0];
    const chunkBytes = C[0] * C[1] * C[2] * perVoxel;
    scale.sharding = chooseShardingSpec({
      gridShape: [0, 1, 2].map((d) => Math.ceil(scale.size[d] / C[d])),
      chunkBytes,
      targetShardBytes: Math.max(target, chunkBytes),
      // ~1000 chunks per minishard: one minishard index (~24 KB) then covers a 16³-chunk block.
      maxChunksPerMinishard: 1024,
      encoding: scale.encoding,
    });
  });
}
