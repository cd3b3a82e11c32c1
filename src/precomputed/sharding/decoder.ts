/**
 * Read `.shard` files (precomputed-format.md §4.4, §4.7): the shard index, minishard indexes
 * and chunk lookup. Pure functions over bytes; every malformed input raises
 * VoxportError("CODEC") saying what is wrong. Offsets returned are absolute byte positions in
 * the shard file, as JS numbers (files beyond 2^53 bytes are rejected).
 */
import { gunzipSync } from "node:zlib";
import { VoxportError } from "../../errors.js";
import type { ShardingSpec } from "../types.js";
import type { ShardChunk } from "./encoder.js";
import { shardIndexSize } from "./spec.js";

/** Byte range `[start, end)` in a shard file. */
export interface ByteSpan {
  start: number;
  end: number;
}

/** A decoded minishard index: ids strictly ascending, absolute chunk byte ranges. */
export interface MinishardIndex {
  ids: BigUint64Array;
  starts: Float64Array;
  ends: Float64Array;
}

const TWO32 = 0x1_0000_0000;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

function codecError(message: string, cause?: unknown): VoxportError {
  return new VoxportError("CODEC", message, cause === undefined ? undefined : { cause });
}

/** LE uint64 at `offset` as a number, or Infinity when it is 2^53 or more. */
function readUint64(view: DataView, offset: number): number {
  const hi = view.getUint32(offset + 4, true);
  if (hi >= 0x20_0000) return Number.POSITIVE_INFINITY;
  return hi * TWO32 + view.getUint32(offset, true);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Undo a `raw`/`gzip` encoding (the gzip container of RFC 1952, not bare deflate). */
export function decodeEncoding(
  encoding: "raw" | "gzip",
  bytes: Uint8Array,
  what: string,
): Uint8Array {
  if (encoding === "raw") return bytes;
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw codecError(`${what}: corrupt gzip data (${(e as Error).message})`, e);
  }
}

/**
 * Decode shard index entry `minishard` from `entry`, its 16 bytes. Returns the absolute byte
 * range of that minishard's encoded index, or `undefined` for an empty minishard.
 * @param fileSize when known, the range must end within it
 */
export function decodeShardIndexEntry(
  spec: ShardingSpec,
  entry: Uint8Array,
  minishard: number,
  fileSize?: number,
): ByteSpan | undefined {
  if (entry.byteLength < 16) {
    throw codecError(`shard index entry ${minishard}: ${entry.byteLength} bytes, expected 16`);
  }
  const view = viewOf(entry);
  const base = shardIndexSize(spec);
  const relStart = view.getBigUint64(0, true);
  const relEnd = view.getBigUint64(8, true);
  if (relStart === relEnd) return undefined;
  const start = base + readUint64(view, 0);
  const end = base + readUint64(view, 8);
  if (!(end <= Number.MAX_SAFE_INTEGER) || start > end) {
    throw codecError(
      `shard index entry ${minishard}: invalid minishard index range [${relStart}, ${relEnd}) relative to byte ${base}`,
    );
  }
  if (fileSize !== undefined && end > fileSize) {
    throw codecError(
      `shard index entry ${minishard}: minishard index range [${start}, ${end}) extends past the end of the ${fileSize}-byte shard`,
    );
  }
  return { start, end };
}

/**
 * Decode the whole shard index (the first `16 << minishard_bits` bytes of `bytes`).
 * @returns one entry per minishard: its index's absolute byte range, or undefined when empty
 */
export function decodeShardIndex(
  spec: ShardingSpec,
  bytes: Uint8Array,
  fileSize?: number,
): Array<ByteSpan | undefined> {
  const size = shardIndexSize(spec);
  if (bytes.byteLength < size) {
    throw codecError(`shard index truncated: ${bytes.byteLength} bytes, expected ${size}`);
  }
  const out: Array<ByteSpan | undefined> = [];
  for (let m = 0; m < size / 16; m++) {
    out.push(decodeShardIndexEntry(spec, bytes.subarray(16 * m, 16 * m + 16), m, fileSize));
  }
  return out;
}

/**
 * Decode a minishard index as stored (applying `minishard_index_encoding`).
 * Checks: decoded length a multiple of 24, ids strictly ascending within uint64, chunk ranges
 * within safe integers and, when `fileSize` is given, within the file.
 */
export function decodeMinishardIndex(
  spec: ShardingSpec,
  stored: Uint8Array,
  fileSize?: number,
): MinishardIndex {
  const bytes = decodeEncoding(spec.minishard_index_encoding, stored, "minishard index");
  if (bytes.byteLength % 24 !== 0) {
    throw codecError(`minishard index is ${bytes.byteLength} bytes, not a multiple of 24`);
  }
  const n = bytes.byteLength / 24;
  const view = viewOf(bytes);
  const ids = new BigUint64Array(n);
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  let id = 0n;
  let prevEnd = shardIndexSize(spec);
  const limit = fileSize ?? Number.MAX_SAFE_INTEGER;
  for (let i = 0; i < n; i++) {
    const idDelta = view.getBigUint64(8 * i, true);
    if (i > 0 && idDelta === 0n) throw codecError(`minishard index: duplicate chunk id ${id}`);
    id += idDelta;
    if (id > UINT64_MAX) throw codecError(`minishard index: chunk id ${i} overflows uint64`);
    const start = prevEnd + readUint64(view, 8 * (n + i));
    const end = start + readUint64(view, 8 * (2 * n + i));
    if (!(end <= limit)) {
      throw codecError(
        `minishard index: chunk ${id} range [${start}, ${end}) extends past ${fileSize === undefined ? "2^53" : `the end of the ${fileSize}-byte shard`}`,
      );
    }
    ids[i] = id;
    starts[i] = start;
    ends[i] = end;
    prevEnd = end;
  }
  return { ids, starts, ends };
}

/** Byte range of chunk `id` in a decoded minishard index (binary search), or undefined. */
export function findChunk(index: MinishardIndex, id: bigint): ByteSpan | undefined {
  const { ids } = index;
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  if (lo < ids.length && ids[lo] === id) return { start: index.starts[lo], end: index.ends[lo] };
  return undefined;
}

/**
 * All chunks of a whole shard file, data decoded with `data_encoding`, in file index order
 * (minishard, then id). For checks and read–merge–write.
 */
export function splitShard(spec: ShardingSpec, shard: Uint8Array): ShardChunk[] {
  const out: ShardChunk[] = [];
  decodeShardIndex(spec, shard, shard.byteLength).forEach((span, m) => {
    if (span === undefined) return;
    let index: MinishardIndex;
    try {
      index = decodeMinishardIndex(spec, shard.subarray(span.start, span.end), shard.byteLength);
    } catch (e) {
      throw codecError(`minishard ${m}: ${(e as Error).message}`, e);
    }
    for (let i = 0; i < index.ids.length; i++) {
      const data = shard.subarray(index.starts[i], index.ends[i]);
      const what = `chunk ${index.ids[i]} data`;
      out.push({ id: index.ids[i], data: decodeEncoding(spec.data_encoding, data, what) });
    }
  });
  return out;
}
