/**
 * Build one `.shard` file from its chunks (precomputed-format.md §4.4), CloudVolume layout:
 * `[shard index][chunk data, minishard by minishard, ids ascending][minishard indexes]`.
 * Pure: bytes in, bytes out. Writing the file is the caller's (or the sharded store's) job.
 */
import { VoxportError } from "../../errors.js";
import { gzipAsync, gzipBytes } from "../gzip.js";
import type { ShardingSpec } from "../types.js";
import { shardAndMinishard, shardIndexSize } from "./spec.js";

export interface ShardChunk {
  /** The full, unshifted uint64 key (compressed Morton code for volumes, else segment id). */
  id: bigint;
  /** The chunk's encoded bytes (raw/cseg/jpeg/…), before the shard's `data_encoding`. */
  data: Uint8Array;
}

export interface EncodeShardOptions {
  /** zlib level for `gzip` minishard indexes and data, 0–9; default 6. */
  gzipLevel?: number;
  /**
   * The chunks' `data` already carries the spec's `data_encoding` (see `encodeShardData`, which
   * callers run on many chunks at once): lay it out as is. Default false: encode it here.
   */
  dataEncoded?: boolean;
}

/** Minishard bits beyond this would need a shard index of more than 256 MiB. */
const MAX_ENCODE_MINISHARD_BITS = 24;

interface Entry {
  id: bigint;
  minishard: number;
  stored: Uint8Array;
}

/**
 * One chunk's bytes as stored in a shard of `spec`: gzip'd for `data_encoding: "gzip"`, else
 * as is. Asynchronous, on libuv's thread pool, so a caller compressing the chunks of a shard
 * concurrently uses every core; pass the results to `encodeShard` with `dataEncoded: true`.
 * Same bytes as `encodeShard` would store (zlib is deterministic for a level; see ../gzip.ts).
 */
export async function encodeShardData(
  spec: ShardingSpec,
  data: Uint8Array,
  gzipLevel = 6,
): Promise<Uint8Array> {
  return spec.data_encoding === "gzip" ? gzipAsync(data, gzipLevel) : data;
}

/**
 * Encode the raw (pre-`minishard_index_encoding`) minishard index: a C-order `[3][n]` array of LE
 * uint64 — id deltas, start deltas (from the previous chunk's end, the first relative to the end
 * of the shard index), sizes. `ids` must ascend; `starts`/`sizes` are relative to the end of the
 * shard index.
 */
export function encodeMinishardIndex(
  ids: readonly bigint[],
  starts: readonly number[],
  sizes: readonly number[],
): Uint8Array {
  const n = ids.length;
  const out = new Uint8Array(24 * n);
  const view = new DataView(out.buffer);
  let prevId = 0n;
  let prevEnd = 0;
  for (let i = 0; i < n; i++) {
    view.setBigUint64(8 * i, ids[i] - prevId, true);
    view.setBigUint64(8 * (n + i), BigInt(starts[i] - prevEnd), true);
    view.setBigUint64(8 * (2 * n + i), BigInt(sizes[i]), true);
    prevId = ids[i];
    prevEnd = starts[i] + sizes[i];
  }
  return out;
}

/**
 * Encode the shard file holding `chunks`. Chunks are grouped by minishard and sorted by id;
 * empty minishards get a `(0, 0)` index entry. An empty `chunks` gives an all-zero shard index.
 * @throws VoxportError("INVALID_ARGUMENT") on duplicate ids, ids from different shards, or a
 *   key that is not a uint64
 * @throws VoxportError("UNSUPPORTED") if minishard_bits > 24
 */
export function encodeShard(
  spec: ShardingSpec,
  chunks: readonly ShardChunk[],
  options: EncodeShardOptions = {},
): Uint8Array {
  if (spec.minishard_bits > MAX_ENCODE_MINISHARD_BITS) {
    throw new VoxportError(
      "UNSUPPORTED",
      `encodeShard: minishard_bits ${spec.minishard_bits} > ${MAX_ENCODE_MINISHARD_BITS}`,
    );
  }
  const level = options.gzipLevel ?? 6;
  const gzipData = spec.data_encoding === "gzip" && !options.dataEncoded;
  const indexSize = shardIndexSize(spec);

  let shard: bigint | undefined;
  let firstId = 0n;
  const entries: Entry[] = chunks.map(({ id, data }) => {
    let loc: ReturnType<typeof shardAndMinishard>;
    try {
      loc = shardAndMinishard(spec, id);
    } catch (e) {
      throw new VoxportError("INVALID_ARGUMENT", `encodeShard: ${(e as Error).message}`);
    }
    if (shard === undefined) {
      shard = loc.shard;
      firstId = id;
    } else if (loc.shard !== shard) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `encodeShard: chunk ${id} belongs to shard ${loc.shard}, chunk ${firstId} to shard ${shard}`,
      );
    }
    return { id, minishard: loc.minishard, stored: gzipData ? gzipBytes(data, level) : data };
  });
  entries.sort((a, b) =>
    a.minishard !== b.minishard
      ? a.minishard - b.minishard
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0,
  );

  // Data region: offsets relative to the end of the shard index.
  let dataBytes = 0;
  const starts = new Array<number>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && entries[i].id === entries[i - 1].id) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `encodeShard: duplicate chunk id ${entries[i].id}`,
      );
    }
    starts[i] = dataBytes;
    dataBytes += entries[i].stored.byteLength;
  }

  // Minishard indexes, in minishard order, after the data.
  const indexes: Array<{ minishard: number; bytes: Uint8Array }> = [];
  for (let i = 0; i < entries.length; ) {
    let j = i;
    while (j < entries.length && entries[j].minishard === entries[i].minishard) j++;
    const group = entries.slice(i, j);
    let bytes = encodeMinishardIndex(
      group.map((e) => e.id),
      starts.slice(i, j),
      group.map((e) => e.stored.byteLength),
    );
    if (spec.minishard_index_encoding === "gzip") bytes = gzipBytes(bytes, level);
    indexes.push({ minishard: entries[i].minishard, bytes });
    i = j;
  }

  let total = indexSize + dataBytes;
  for (const m of indexes) total += m.bytes.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let pos = indexSize;
  for (const e of entries) {
    out.set(e.stored, pos);
    pos += e.stored.byteLength;
  }
  for (const { minishard, bytes } of indexes) {
    view.setBigUint64(16 * minishard, BigInt(pos - indexSize), true);
    view.setBigUint64(16 * minishard + 8, BigInt(pos - indexSize + bytes.byteLength), true);
    out.set(bytes, pos);
    pos += bytes.byteLength;
  }
  return out;
}
