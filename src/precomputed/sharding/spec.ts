/**
 * Sharding spec: validation, key → (shard, minishard), shard file names, and — for volumes with
 * the identity hash — which box of chunks a shard holds and how to choose the parameters
 * (precomputed-format.md §4.1, §4.2, §4.5, §4.6).
 */
import { VoxportError } from "../../errors.js";
import type { Encoding, ShardingSpec } from "../types.js";
import { bitLength, compressedMortonBits, mortonBitOrder } from "./morton.js";
import { murmurHash3X86_128Low64 } from "./murmur3.js";

export const SHARDED_TYPE = "neuroglancer_uint64_sharded_v1";
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
/** Shard index entries are addressed with JS numbers; 16·2^48 stays below 2^53. */
const MAX_MINISHARD_BITS = 48;

function lowMask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/**
 * Check a parsed `sharding` JSON object and return a normalised copy. Missing encodings default
 * to `"raw"`, as Neuroglancer and TensorStore read them.
 * @param field JSON path used in error messages
 * @throws VoxportError("INVALID_INFO") naming the field that is wrong;
 *   VoxportError("UNSUPPORTED") for minishard_bits > 48
 */
export function validateShardingSpec(value: unknown, field = "sharding"): ShardingSpec {
  const bad = (what: string) => new VoxportError("INVALID_INFO", `${field}${what}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(" must be an object");
  }
  const o = value as Record<string, unknown>;
  if (o["@type"] !== SHARDED_TYPE) {
    throw bad(`["@type"] must be "${SHARDED_TYPE}", got ${JSON.stringify(o["@type"])}`);
  }
  const bits = (name: string): number => {
    const v = o[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 64) {
      throw bad(`.${name} must be an integer in [0, 64], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const encoding = (name: string): "raw" | "gzip" => {
    const v = o[name] ?? "raw";
    if (v !== "raw" && v !== "gzip") {
      throw bad(`.${name} must be "raw" or "gzip", got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const preshift_bits = bits("preshift_bits");
  const minishard_bits = bits("minishard_bits");
  const shard_bits = bits("shard_bits");
  if (minishard_bits + shard_bits > 64) {
    throw bad(`: minishard_bits + shard_bits = ${minishard_bits + shard_bits} exceeds 64`);
  }
  if (minishard_bits > MAX_MINISHARD_BITS) {
    throw new VoxportError(
      "UNSUPPORTED",
      `${field}.minishard_bits = ${minishard_bits}: at most ${MAX_MINISHARD_BITS} supported`,
    );
  }
  const hash = o.hash;
  if (hash !== "identity" && hash !== "murmurhash3_x86_128") {
    throw bad(`.hash must be "identity" or "murmurhash3_x86_128", got ${JSON.stringify(hash)}`);
  }
  return {
    "@type": SHARDED_TYPE,
    preshift_bits,
    hash,
    minishard_bits,
    shard_bits,
    minishard_index_encoding: encoding("minishard_index_encoding"),
    data_encoding: encoding("data_encoding"),
  };
}

export interface ShardLocation {
  /** Shard number in [0, 2^shard_bits). */
  shard: bigint;
  /** Minishard number in [0, 2^minishard_bits). */
  minishard: number;
}

/**
 * Where key `key` lives: `h = hash(key >> preshift_bits)`, minishard = low `minishard_bits` of h,
 * shard = the next `shard_bits` (§4.2). The spec is assumed valid.
 * @throws RangeError if `key` is not a uint64
 */
export function shardAndMinishard(spec: ShardingSpec, key: bigint): ShardLocation {
  if (key < 0n || key > UINT64_MAX) throw new RangeError(`chunk key ${key} is not a uint64`);
  const shifted = key >> BigInt(spec.preshift_bits); // shifting by 64 gives 0, as TS requires
  const h = spec.hash === "identity" ? shifted : murmurHash3X86_128Low64(shifted);
  return {
    minishard: Number(h & lowMask(spec.minishard_bits)),
    shard: (h >> BigInt(spec.minishard_bits)) & lowMask(spec.shard_bits),
  };
}

/** Byte size of the shard index at the start of every shard file: `16 << minishard_bits`. */
export function shardIndexSize(spec: ShardingSpec): number {
  return 16 * 2 ** spec.minishard_bits;
}

/**
 * `<hex>.shard`, lowercase hex zero-padded to ceil(shard_bits/4) digits, at least one digit
 * (`0.shard` when shard_bits is 0).
 * @throws RangeError if `shard` is not in [0, 2^shard_bits)
 */
export function shardFileName(spec: ShardingSpec, shard: bigint | number): string {
  const s = BigInt(shard);
  if (s < 0n || s >> BigInt(spec.shard_bits) !== 0n) {
    throw new RangeError(`shard ${shard} is not in [0, 2^${spec.shard_bits})`);
  }
  return `${s.toString(16).padStart(Math.max(1, Math.ceil(spec.shard_bits / 4)), "0")}.shard`;
}

// ---- Shards as boxes of chunks (identity hash over compressed Morton codes) ----

function requireIdentity(spec: ShardingSpec, what: string): void {
  if (spec.hash !== "identity") {
    throw new VoxportError("UNSUPPORTED", `${what} needs hash "identity", spec has "${spec.hash}"`);
  }
}

/** Chunks per dimension covered by the first `steps` Morton bits (each a power of two). */
function boxShape(bits: readonly number[], steps: number): number[] {
  const shape = bits.map(() => 1);
  const order = mortonBitOrder(bits);
  for (let j = 0; j < Math.min(steps, order.length); j++) shape[order[j]] *= 2;
  return shape;
}

/**
 * True when every shard of this grid is one aligned box of chunks: identity hash and
 * `preshift + minishard + shard ≥` the grid's Morton bits (§4.5). Otherwise several regions fold
 * into one shard — still valid, but a writer cannot build shards box by box.
 */
export function shardsAreBoxes(spec: ShardingSpec, gridShape: readonly number[]): boolean {
  const total = compressedMortonBits(gridShape).reduce((a, b) => a + b, 0);
  return (
    spec.hash === "identity" && spec.preshift_bits + spec.minishard_bits + spec.shard_bits >= total
  );
}

/**
 * Shape, in chunks, of the aligned box a shard covers (before clipping at the volume edge): the
 * first `preshift + minishard` Morton bits (TS `GetShardChunkHierarchy`, CV
 * `image_shard_shape_from_spec`). Multiply by the chunk size for voxels.
 * @throws VoxportError("UNSUPPORTED") unless the hash is identity
 */
export function shardShapeInChunks(spec: ShardingSpec, gridShape: readonly number[]): number[] {
  requireIdentity(spec, "shardShapeInChunks");
  return boxShape(compressedMortonBits(gridShape), spec.preshift_bits + spec.minishard_bits);
}

/** Shape, in chunks, of the box one minishard covers: the first `preshift_bits` Morton bits. */
export function minishardShapeInChunks(spec: ShardingSpec, gridShape: readonly number[]): number[] {
  requireIdentity(spec, "minishardShapeInChunks");
  return boxShape(compressedMortonBits(gridShape), spec.preshift_bits);
}

/** A box of chunk-grid cells, `start` inclusive, `end` exclusive. */
export interface ChunkBox {
  start: number[];
  end: number[];
}

/**
 * The chunk-grid box shard `shard` holds, clipped to the grid. The box is empty (some
 * `end[d] <= start[d]`) for shard numbers whose cells all lie outside the grid.
 * @throws VoxportError("UNSUPPORTED") if shards are not boxes ({@link shardsAreBoxes})
 * @throws RangeError if `shard` is not in [0, 2^shard_bits)
 */
export function shardRegion(
  spec: ShardingSpec,
  gridShape: readonly number[],
  shard: bigint | number,
): ChunkBox {
  requireIdentity(spec, "shardRegion");
  if (!shardsAreBoxes(spec, gridShape)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `shards of grid [${gridShape}] are not boxes: preshift+minishard+shard bits < Morton bits`,
    );
  }
  let s = BigInt(shard);
  if (s < 0n || s >> BigInt(spec.shard_bits) !== 0n) {
    throw new RangeError(`shard ${shard} is not in [0, 2^${spec.shard_bits})`);
  }
  const bits = compressedMortonBits(gridShape);
  const order = mortonBitOrder(bits);
  const within = Math.min(spec.preshift_bits + spec.minishard_bits, order.length);
  const shape = bits.map(() => 1);
  for (let j = 0; j < within; j++) shape[order[j]] *= 2;
  const origin = bits.map(() => 0);
  const used = [...shape];
  for (let j = within; j < order.length; j++, s >>= 1n) {
    const d = order[j];
    if (s & 1n) origin[d] += used[d];
    used[d] *= 2;
  }
  if (s !== 0n) {
    // Shard bits beyond the Morton code: no cell maps here.
    return { start: [...gridShape], end: [...gridShape] };
  }
  return {
    start: origin.map((o, d) => Math.min(o, gridShape[d])),
    end: origin.map((o, d) => Math.min(o + shape[d], gridShape[d])),
  };
}

export interface ChooseShardingOptions {
  /** Chunk grid shape, `ceil(size / chunk_size)`. */
  gridShape: readonly number[];
  /** Uncompressed bytes of one full chunk (voxels × channels × bytes per sample). */
  chunkBytes: number;
  /** Target uncompressed bytes per shard; default 2 GiB. */
  targetShardBytes?: number;
  /** Upper bound on chunks per minishard (rounded down to a power of two); default 512. */
  maxChunksPerMinishard?: number;
  /** Scale encoding: already-compressed jpeg/png/jxl get `data_encoding: "raw"`. */
  encoding?: Encoding;
}

/**
 * Sharding parameters for a volume scale, TensorStore's rule (`ChooseShardingSpec`, §4.6):
 * 1. `W` = log2 of chunks per shard: `targetShardBytes / chunkBytes` rounded to the nearest power
 *    of two (ties go up), capped at the grid's total Morton bits;
 * 2. `preshift_bits = min(W, log2(maxChunksPerMinishard))` (9 by default, as TS),
 *    `minishard_bits = W - preshift_bits`, `shard_bits = total - W`;
 * 3. identity hash, gzip minishard indexes, gzip data except for jpeg/png/jxl.
 * Shards are then aligned boxes of `2^W` chunks ({@link shardRegion}). When W is 0 every chunk
 * is its own shard; TensorStore then writes the scale unsharded, a choice left to the caller.
 */
export function chooseShardingSpec(options: ChooseShardingOptions): ShardingSpec {
  const { gridShape, chunkBytes } = options;
  const targetShardBytes = options.targetShardBytes ?? 2 ** 31;
  const maxPerMinishard = options.maxChunksPerMinishard ?? 512;
  for (const [name, v] of [
    ["chunkBytes", chunkBytes],
    ["targetShardBytes", targetShardBytes],
    ["maxChunksPerMinishard", maxPerMinishard],
  ] as const) {
    if (!(Number.isFinite(v) && v >= 1)) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `chooseShardingSpec: ${name} must be ≥ 1, got ${v}`,
      );
    }
  }
  const total = compressedMortonBits(gridShape).reduce((a, b) => a + b, 0);
  const targetChunks = Math.round(targetShardBytes / chunkBytes);
  let w = 0;
  while (w < total && 2 ** w < targetChunks) w++;
  if (w > 0 && 2 ** w - targetChunks > targetChunks - 2 ** (w - 1)) w--;
  const preshift = Math.min(w, bitLength(Math.floor(maxPerMinishard)) - 1);
  const raw =
    options.encoding === "jpeg" || options.encoding === "png" || options.encoding === "jxl";
  return {
    "@type": SHARDED_TYPE,
    preshift_bits: preshift,
    hash: "identity",
    minishard_bits: w - preshift,
    shard_bits: total - w,
    minishard_index_encoding: "gzip",
    data_encoding: raw ? "raw" : "gzip",
  };
}
