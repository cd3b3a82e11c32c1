/**
 * A precomputed volume on a KvStore: read any box of any scale, sharded or not; write
 * chunk-aligned boxes of unsharded scales and whole shards of sharded ones. The format layer
 * alone knows chunk names, shard layout and encodings; the store only moves bytes
 * (architecture.md §2.4). Missing chunks read as zeros here and nowhere else (§2.2, §7.4).
 *
 * How chunks are stored (../shared/docs/precomputed-format.md §3.5, §4.4):
 * - Unsharded scales: one object per chunk at `<scale key>/<x0-x1_y0-y1_z0-z1>`. With
 *   `compress: "gzip"`, chunks of codecs that benefit (`transferGzip`: raw, cseg) are stored
 *   gzip'd with Content-Encoding gzip — object metadata on S3/GCS, a `.gz` file on `file://`,
 *   whatever the KvStore backend does; jpeg/png are always stored as is.
 * - Sharded scales: one object per shard at `<scale key>/<hex>.shard`, keyed by the compressed
 *   Morton code of each chunk's grid cell, read with ≤ 3 ranged gets per chunk (1 once the
 *   minishard index is cached). Shard files are never transfer-encoded (Content-Encoding would
 *   break byte-range reads); compression happens inside the shard instead, per chunk, by the
 *   spec's `data_encoding` (gzip for raw/cseg, raw for jpeg/png, chooseShardingSpec's defaults).
 *   `compress` does not apply to them.
 * - Shards are written whole, by one writer, with one put (never read–modify–write): callers give
 *   `writeShards` (or `writeChunks`) boxes that are unions of whole shards (`shardBoxes`,
 *   `shardShapeVoxels` in shard-grid.ts) and must not let two tasks write the same shard.
 *   A volume caches minishard indexes per scale and drops them after its own shard writes;
 *   shards rewritten by another process are seen by a freshly opened volume.
 */
import { promisify } from "node:util";
import { gunzip as gunzipCb } from "node:zlib";
import { isVoxportError, VoxportError } from "../errors.js";
import { type Block, makeBlock, type Shape4, type Vec3 } from "../ops/array.js";
import { type Box, boxShape, boxToString } from "../ops/bbox.js";
import { copyBox } from "../ops/copy.js";
import type { KvStore } from "../storage/kvstore.js";
import { type ChunkCodec, type CodecDirection, resolveCodec } from "./codecs/registry.js";
import {
  chunkBox,
  chunkCellsInBox,
  chunkKey,
  chunkMisalignment,
  chunkName,
  chunkSize,
  voxelOffset,
} from "./grid.js";
import { gzipAsync } from "./gzip.js";
import { parseInfo, serializeInfo } from "./info.js";
import {
  chunkId,
  hasBoxShards,
  scalePrefix,
  shardBoxes,
  shardKey,
  shardMisalignment,
  shardOfCell,
} from "./shard-grid.js";
import { encodeShard, encodeShardData, type ShardChunk } from "./sharding/encoder.js";
import { ShardedReader } from "./sharding/sharded-store.js";
import type { PrecomputedInfo, ScaleInfo } from "./types.js";

const gunzip = promisify(gunzipCb);

/** Chunk requests in flight per call; enough to hide object-store latency, few enough for sockets. */
export const DEFAULT_CONCURRENCY = 16;
/** Shards built at once by writeShards (each holds all its encoded chunks in memory). */
const SHARD_CONCURRENCY = 2;
/** CV's default for chunks (§3.5); info is written with no-cache instead. */
const CHUNK_CACHE_CONTROL = "max-age=3600";

export interface ReadOptions {
  signal?: AbortSignal;
  /** Chunks fetched at once; default 16. */
  concurrency?: number;
}

export interface WriteChunksOptions {
  /**
   * "gzip" stores chunks gzip'd with Content-Encoding gzip when the codec benefits
   * (`transferGzip`: raw, cseg); "none" (default, §3.5 "default to plain files") stores them as is.
   */
  compress?: "gzip" | "none";
  /** zlib level 0–9; default 6. */
  gzipLevel?: number;
  /**
   * When > 0, a chunk whose fraction of nonzero voxels (a voxel is nonzero when any channel is)
   * is below this is not written: a missing chunk reads as zeros (§2.2). Existing objects at
   * skipped keys are left as they are.
   */
  skipEmptyRatio?: number;
  /**
   * Zero the skipped chunks in `block` too, so that lower scales computed from the block match
   * what the dataset holds (missing chunks read as zeros).
   */
  zeroSkipped?: boolean;
  signal?: AbortSignal;
  /** Chunks encoded and uploaded at once; default 16. */
  concurrency?: number;
}

export interface WriteChunksResult {
  /** Chunks stored. */
  written: number;
  /** Chunks left out by skipEmptyRatio. */
  skipped: number;
  /** Bytes stored (after gzip when used; whole shard files for sharded scales). */
  bytes: number;
}

export interface WriteShardsOptions {
  /** zlib level 0–9 for the spec's gzip `data_encoding` and `minishard_index_encoding`; default 6. */
  gzipLevel?: number;
  /**
   * As in WriteChunksOptions: chunks with a nonzero fraction below this are left out of their
   * shard. A shard left with no chunks is not written, and any file at its key is deleted (a
   * stale shard from an earlier run would otherwise survive).
   */
  skipEmptyRatio?: number;
  /** Zero the skipped chunks in `block` too (see WriteChunksOptions). */
  zeroSkipped?: boolean;
  signal?: AbortSignal;
  /** Chunks encoded at once within a shard; default 16. */
  concurrency?: number;
}

export interface WriteShardsResult extends WriteChunksResult {
  /** Shard files written. */
  shards: number;
  /** Shards whose chunks were all skipped: not written, old file at the key deleted. */
  emptyShards: number;
}

const AXES = ["x", "y", "z"];

export class PrecomputedVolume {
  /** One sharded reader per scale index, created on first read (caches minishard indexes). */
  private readonly readers = new Map<number, ShardedReader>();

  private constructor(
    readonly store: KvStore,
    readonly info: PrecomputedInfo,
  ) {}

  /** URL of the info file, used to name this volume in messages. */
  get infoUrl(): string {
    return `${this.store.url}/info`;
  }

  /** Read and validate `<store>/info`. */
  static async open(
    store: KvStore,
    options: { signal?: AbortSignal } = {},
  ): Promise<PrecomputedVolume> {
    const where = `${store.url}/info`;
    const obj = await store.get("info", { signal: options.signal });
    if (!obj) throw new VoxportError("NOT_FOUND", `no precomputed info at ${where}`);
    let bytes = obj.data;
    if (obj.contentEncoding === "gzip") {
      try {
        bytes = await gunzip(bytes);
      } catch (e) {
        throw new VoxportError(
          "INVALID_INFO",
          `${where} is marked gzip but does not gunzip: ${msg(e)}`,
          {
            cause: e,
          },
        );
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new VoxportError("INVALID_INFO", `${where} is not valid JSON: ${msg(e)}`, { cause: e });
    }
    const info = parseInfo(json, where);
    const redirect = (info as { redirect?: string }).redirect;
    if (redirect !== undefined) {
      // NG follows `redirect` to another dataset; a KvStore cannot open another URL itself.
      throw new VoxportError(
        "UNSUPPORTED",
        `${where} redirects to ${redirect}; open that URL instead`,
      );
    }
    return new PrecomputedVolume(store, info);
  }

  /**
   * A volume handle for `info` (validated now) on `store`. Nothing is written: callers decide
   * when `info` goes out (typically after checking the destination, before the first chunk).
   */
  static create(store: KvStore, info: PrecomputedInfo): PrecomputedVolume {
    return new PrecomputedVolume(store, parseInfo(info, `${store.url}/info`));
  }

  /** Write `info` (deterministic bytes, plain JSON, no-cache so viewers see updates). */
  async writeInfo(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.requireWritable();
    await this.store.put("info", new TextEncoder().encode(serializeInfo(this.info)), {
      contentType: "application/json",
      cacheControl: "no-cache",
      signal: options.signal,
    });
  }

  scale(index: number): ScaleInfo {
    const s = this.info.scales[index];
    if (!Number.isInteger(index) || !s) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `scale index ${index} is out of range: ${this.infoUrl} has ${this.info.scales.length} scales`,
      );
    }
    return s;
  }

  /**
   * Voxels of `box` (any box, in the scale's voxel coordinates) as a block of shape
   * [box shape, num_channels]. Parts outside the volume and missing chunks read as zeros.
   */
  async read(scaleIndex: number, box: Box, options: ReadOptions = {}): Promise<Block> {
    const scale = this.scale(scaleIndex);
    const shape = boxShape(box);
    if (!shape.every((n, d) => Number.isInteger(n) && n >= 0 && Number.isInteger(box.min[d]))) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `cannot read box ${boxToString(box)}: not a box of integers`,
      );
    }
    const out = makeBlock(this.info.data_type, [...shape, this.info.num_channels] as Shape4);
    if (shape.some((n) => n === 0)) return out;
    const codec = this.codec(scale, "decode");
    await forEachLimit(
      chunkCellsInBox(scale, box),
      concurrency(options),
      options.signal,
      async (cell, signal) => {
        const cb = chunkBox(scale, cell);
        const chunk = await this.readCell(scaleIndex, codec, cell, signal);
        if (chunk) copyBox(chunk, cb, out, box);
      },
    );
    return out;
  }

  /**
   * One chunk by its (clipped) box, decoded; undefined when the chunk has no object. A chunk
   * that does not decode to its box's shape is a CODEC error naming its key.
   */
  async readChunk(
    scaleIndex: number,
    box: Box,
    options: { signal?: AbortSignal } = {},
  ): Promise<Block | undefined> {
    const scale = this.scale(scaleIndex);
    const codec = this.codec(scale, "decode");
    if (scale.sharding) {
      return this.readCell(scaleIndex, codec, this.cellOf(scale, box), options.signal);
    }
    return this.readChunkWith(codec, scale, box, options.signal);
  }

  /**
   * Cut `block` (which covers exactly `box`, all channels) into chunks and store them. `box`
   * must be chunk-aligned (see grid.ts `isChunkAligned`); edge chunks are stored clipped.
   *
   * On a sharded scale this is `writeShards`: `box` must then be a union of whole shards
   * (shard-grid.ts `isShardAligned`), else INVALID_ARGUMENT; `compress` does not apply there
   * (the spec's `data_encoding` compresses inside the shard), and the result counts chunks.
   */
  async writeChunks(
    scaleIndex: number,
    box: Box,
    block: Block,
    options: WriteChunksOptions = {},
  ): Promise<WriteChunksResult> {
    this.requireWritable();
    const scale = this.scale(scaleIndex);
    if (scale.sharding) {
      const bad = shardMisalignment(scale, box);
      if (bad) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `scale ${scale.key} of ${this.infoUrl} is sharded, and box ${boxToString(box)} is not ` +
            `a union of whole shards: ${bad}. Align writes to shardBoxes() and use writeShards`,
        );
      }
      return this.writeShards(scaleIndex, box, block, options);
    }
    if (scale.chunk_sizes.length !== 1) {
      // Each extra chunk size is a full second copy of the data (§1.3); nobody needs that here.
      throw new VoxportError(
        "UNSUPPORTED",
        `scale ${scale.key} of ${this.infoUrl} has ${scale.chunk_sizes.length} chunk sizes; writing supports exactly one`,
      );
    }
    const bad = chunkMisalignment(scale, box);
    if (bad) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `box ${boxToString(box)} is not chunk-aligned in scale ${scale.key} of ${this.infoUrl}: ${bad}`,
      );
    }
    this.checkBlock(block, box);
    const compress = options.compress ?? "none";
    if (compress !== "gzip" && compress !== "none") {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `compress must be "gzip" or "none" (got ${String(compress)})`,
      );
    }
    const { level, ratio } = checkWriteOptions(options);
    const codec = this.codec(scale, "encode");
    const useGzip = compress === "gzip" && codec.transferGzip;
    const result: WriteChunksResult = { written: 0, skipped: 0, bytes: 0 };

    await forEachLimit(
      chunkCellsInBox(scale, box),
      concurrency(options),
      options.signal,
      async (cell, signal) => {
        const cb = chunkBox(scale, cell);
        const key = chunkKey(scale, cb);
        const bytes = await this.encodeChunk(
          { scale, codec, block, box, cb, ratio, zeroSkipped: options.zeroSkipped },
          (b) => (useGzip ? gzipAsync(b, level) : b),
          `${this.store.url}/${key}`,
        );
        if (bytes === undefined) {
          result.skipped++;
          return;
        }
        signal.throwIfAborted();
        await this.store.put(key, bytes, {
          contentType: codec.contentType,
          contentEncoding: useGzip ? "gzip" : undefined,
          cacheControl: CHUNK_CACHE_CONTROL,
          signal,
        });
        result.written++;
        result.bytes += bytes.byteLength;
      },
    );
    return result;
  }

  /**
   * Store `block` (covering exactly `box`, all channels) into the shards of a sharded scale.
   * `box` must be a union of whole shards: each shard region (`shardBoxes`, i.e. shardRegion
   * in voxels, clipped at the volume edge) is either inside `box` or disjoint from it. Every
   * chunk of every shard is encoded, each shard built with `encodeShard` and written with one
   * put (application/octet-stream, no Content-Encoding, so it stays range-readable). Scales whose
   * shards are not boxes (murmurhash3_x86_128, too few bits) accept only the whole volume.
   *
   * One writer per shard: a shard is written whole, never read–modify–written, so two writers of
   * one shard lose data. This volume's cached minishard indexes of the scale are dropped after.
   * @throws VoxportError("INVALID_ARGUMENT") for an unsharded scale, a misaligned box (naming
   *   the scale and the axis), a block not matching the box, or bad options
   */
  async writeShards(
    scaleIndex: number,
    box: Box,
    block: Block,
    options: WriteShardsOptions = {},
  ): Promise<WriteShardsResult> {
    this.requireWritable();
    const scale = this.scale(scaleIndex);
    const spec = scale.sharding;
    if (!spec) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `scale ${scale.key} of ${this.infoUrl} is not sharded; use writeChunks`,
      );
    }
    const bad = shardMisalignment(scale, box);
    if (bad) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `box ${boxToString(box)} is not a union of whole shards of scale ${scale.key} of ${this.infoUrl}: ${bad}`,
      );
    }
    this.checkBlock(block, box);
    const { level, ratio } = checkWriteOptions(options);
    const chunkConcurrency = concurrency(options);
    const codec = this.codec(scale, "encode");
    const result: WriteShardsResult = {
      written: 0,
      skipped: 0,
      bytes: 0,
      shards: 0,
      emptyShards: 0,
    };

    try {
      await forEachLimit(
        shardJobs(scale, box),
        SHARD_CONCURRENCY,
        options.signal,
        async ({ shard, cells }, signal) => {
          const key = shardKey(scale, shard);
          const chunks: ShardChunk[] = [];
          let skipped = 0;
          await forEachLimit(cells, chunkConcurrency, signal, async (cell) => {
            const cb = chunkBox(scale, cell);
            const id = chunkId(scale, cell);
            const data = await this.encodeChunk(
              { scale, codec, block, box, cb, ratio, zeroSkipped: options.zeroSkipped },
              // The spec's data_encoding (gzip) here, per chunk and asynchronously: the chunks in
              // flight compress on libuv's threads at once instead of one by one in encodeShard.
              (b) => encodeShardData(spec, b, level),
              `${this.store.url}/${key} chunk ${id} (${chunkName(cb)})`,
            );
            if (data === undefined) {
              skipped++;
              return;
            }
            chunks.push({ id, data });
          });
          signal.throwIfAborted();
          result.skipped += skipped;
          if (chunks.length === 0) {
            // Nothing to store: a missing shard reads as zeros, but an old one would not.
            await this.store.delete(key, { signal });
            result.emptyShards++;
            return;
          }
          let bytes: Uint8Array;
          try {
            bytes = encodeShard(spec, chunks, { gzipLevel: level, dataEncoded: true });
          } catch (e) {
            if (!isVoxportError(e)) throw e;
            throw new VoxportError(e.code, `${this.store.url}/${key}: ${e.message}`, { cause: e });
          }
          await this.store.put(key, bytes, {
            contentType: "application/octet-stream",
            cacheControl: CHUNK_CACHE_CONTROL,
            signal,
          });
          result.written += chunks.length;
          result.bytes += bytes.byteLength;
          result.shards++;
        },
      );
    } finally {
      // Shards just written (or deleted) may be in this volume's minishard index cache.
      this.readers.get(scaleIndex)?.clearCache();
    }
    return result;
  }

  /** The codec of `scale`, checked against this volume's dtype and channels. */
  private codec(scale: ScaleInfo, direction: CodecDirection): ChunkCodec {
    return resolveCodec(
      scale,
      this.info.data_type,
      this.info.num_channels,
      direction,
      this.store.url,
    );
  }

  /** Chunk of grid cell `cell`, decoded; undefined when it is missing. */
  private async readCell(
    scaleIndex: number,
    codec: ChunkCodec,
    cell: Vec3,
    signal?: AbortSignal,
  ): Promise<Block | undefined> {
    const scale = this.scale(scaleIndex);
    const cb = chunkBox(scale, cell);
    if (!scale.sharding) return this.readChunkWith(codec, scale, cb, signal);
    const reader = this.shardedReader(scaleIndex, scale);
    const id = chunkId(scale, cell);
    // Errors of the shard itself (truncated, bad index) already name `<store>/<scale>/<shard>`.
    const bytes = await reader.get(id, { signal });
    if (!bytes) return undefined;
    const shape = [...boxShape(cb), this.info.num_channels] as Shape4;
    try {
      return await codec.decode(bytes, shape, this.info.data_type, scale);
    } catch (e) {
      const what = `${this.store.url}/${shardKey(scale, shardOfCell(scale, cell))} chunk ${id} (${chunkName(cb)})`;
      throw codecError(e, `${scale.encoding} decode of ${what}`);
    }
  }

  private shardedReader(scaleIndex: number, scale: ScaleInfo): ShardedReader {
    let reader = this.readers.get(scaleIndex);
    if (!reader) {
      const spec = scale.sharding;
      if (!spec) throw new Error(`scale ${scale.key} is not sharded`);
      reader = new ShardedReader(this.store, scalePrefix(scale), spec);
      this.readers.set(scaleIndex, reader);
    }
    return reader;
  }

  /** Grid cell of the chunk whose (clipped) box is `box`. */
  private cellOf(scale: ScaleInfo, box: Box): Vec3 {
    const o = voxelOffset(scale);
    const c = chunkSize(scale);
    const cell = [0, 1, 2].map((d) => Math.floor((box.min[d] - o[d]) / c[d])) as Vec3;
    let cb: Box | undefined;
    try {
      cb = chunkBox(scale, cell);
    } catch {
      cb = undefined;
    }
    if (!cb || [0, 1, 2].some((d) => cb.min[d] !== box.min[d] || cb.max[d] !== box.max[d])) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `box ${boxToString(box)} is not a chunk of scale ${scale.key} of ${this.infoUrl}`,
      );
    }
    return cell;
  }

  private async readChunkWith(
    codec: ChunkCodec,
    scale: ScaleInfo,
    cb: Box,
    signal?: AbortSignal,
  ): Promise<Block | undefined> {
    const key = chunkKey(scale, cb);
    const obj = await this.store.get(key, { signal });
    if (!obj) return undefined;
    const shape = [...boxShape(cb), this.info.num_channels] as Shape4;
    try {
      const bytes = obj.contentEncoding === "gzip" ? await gunzip(obj.data) : obj.data;
      return await codec.decode(bytes, shape, this.info.data_type, scale);
    } catch (e) {
      throw codecError(e, `${scale.encoding} decode of ${this.store.url}/${key}`);
    }
  }

  /**
   * Chunk `cb` of `block` (which covers `box`) encoded with the scale's codec, then `finish`ed
   * (transfer gzip, or the shard's data_encoding). `undefined` when skip-empty leaves the chunk
   * out; with `zeroSkipped` it is then zeroed in `block` too, so lower scales match the store.
   */
  private async encodeChunk(
    c: {
      scale: ScaleInfo;
      codec: ChunkCodec;
      block: Block;
      box: Box;
      cb: Box;
      ratio: number;
      zeroSkipped?: boolean;
    },
    finish: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>,
    where: string,
  ): Promise<Uint8Array | undefined> {
    const { scale, codec, block, box, cb, ratio } = c;
    const chunk = needsCut(codec, ratio) ? cutChunk(block, box, cb) : undefined;
    if (chunk && ratio > 0 && nonzeroBelow(chunk, ratio)) {
      if (c.zeroSkipped) copyBox(makeBlock(block.dtype, chunk.shape), cb, block, box);
      return undefined;
    }
    try {
      return await finish(await encodeCell(codec, scale, block, box, cb, chunk));
    } catch (e) {
      throw codecError(e, `${scale.encoding} encode of ${where}`);
    }
  }

  private requireWritable(): void {
    if (!this.store.capabilities.write) {
      throw new VoxportError("UNSUPPORTED", `store ${this.store.url} is read-only`);
    }
  }

  private checkBlock(block: Block, box: Box): void {
    const want = [...boxShape(box), this.info.num_channels];
    if (block.dtype !== this.info.data_type) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `block is ${block.dtype} but ${this.infoUrl} holds ${this.info.data_type}`,
      );
    }
    const axis = want.findIndex((n, d) => block.shape[d] !== n);
    if (axis >= 0) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `block shape [${block.shape.join(",")}] does not match box ${boxToString(box)} with ` +
          `${this.info.num_channels} channels, which needs [${want.join(",")}] (axis ${AXES[axis] ?? "c"})`,
      );
    }
    const n = want[0] * want[1] * want[2] * want[3];
    if (block.data.length !== n) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `block holds ${block.data.length} values; its shape needs ${n}`,
      );
    }
  }
}

/** The chunks of one shard file to build. */
interface ShardJob {
  shard: bigint;
  cells: Vec3[];
}

/**
 * The shards inside `box` (a union of whole shards) with their grid cells: box by box when
 * shards are boxes, else (whole volume) every cell grouped by its shard, shards in order.
 */
function shardJobs(scale: ScaleInfo, box: Box): ShardJob[] {
  if (hasBoxShards(scale)) {
    return shardBoxes(scale, box).map((sb) => {
      const cells = [...chunkCellsInBox(scale, sb)];
      return { shard: shardOfCell(scale, cells[0]), cells };
    });
  }
  const groups = new Map<bigint, Vec3[]>();
  for (const cell of chunkCellsInBox(scale, box)) {
    const shard = shardOfCell(scale, cell);
    const cells = groups.get(shard);
    if (cells) cells.push(cell);
    else groups.set(shard, [cell]);
  }
  return [...groups]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([shard, cells]) => ({ shard, cells }));
}

function checkWriteOptions(options: { gzipLevel?: number; skipEmptyRatio?: number }): {
  level: number;
  ratio: number;
} {
  const level = options.gzipLevel ?? 6;
  const ratio = options.skipEmptyRatio ?? 0;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new VoxportError("INVALID_ARGUMENT", `gzipLevel must be an integer 0–9 (got ${level})`);
  }
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `skipEmptyRatio must be within [0, 1] (got ${ratio})`,
    );
  }
  return { level, ratio };
}

/**
 * Whether writing a chunk needs it cut out of the block: not for codecs that read it in place
 * (`encodeRegion`, which saves a copy), unless skipEmptyRatio must look at it.
 */
function needsCut(codec: ChunkCodec, ratio: number): boolean {
  return ratio > 0 || codec.encodeRegion === undefined;
}

/** Encode chunk box `cb` of `block` (covering `box`): from `chunk` when it was cut, else in place. */
function encodeCell(
  codec: ChunkCodec,
  scale: ScaleInfo,
  block: Block,
  box: Box,
  cb: Box,
  chunk: Block | undefined,
): Promise<Uint8Array> {
  if (chunk) return codec.encode(chunk, scale);
  if (codec.encodeRegion) return codec.encodeRegion(block, box, cb, scale);
  return codec.encode(cutChunk(block, box, cb), scale);
}

/** The part of `block` (covering `box`) inside chunk box `cb`, without a copy when it is all of it. */
function cutChunk(block: Block, box: Box, cb: Box): Block {
  const same = [0, 1, 2].every((d) => box.min[d] === cb.min[d] && box.max[d] === cb.max[d]);
  if (same) return block;
  const chunk = makeBlock(block.dtype, [...boxShape(cb), block.shape[3]] as Shape4);
  copyBox(block, box, chunk, cb);
  return chunk;
}

/**
 * Whether fewer than `ratio` of the chunk's voxels are nonzero (in any channel). Stops counting
 * as soon as the threshold is reached, so dense chunks cost little.
 */
export function nonzeroBelow(block: Block, ratio: number): boolean {
  const [sx, sy, sz, channels] = block.shape;
  const n = sx * sy * sz;
  const need = ratio * n;
  const data = block.data;
  const zero = (data instanceof BigUint64Array ? 0n : 0) as never;
  if (channels === 1) {
    let count = 0;
    for (let i = 0; i < n; i++) {
      if (data[i] !== zero && ++count >= need) return false;
    }
    return count < need;
  }
  const mask = new Uint8Array(n);
  let count = 0;
  for (let c = 0; c < channels; c++) {
    const base = c * n;
    for (let i = 0; i < n; i++) {
      if (mask[i] === 0 && data[base + i] !== zero) {
        mask[i] = 1;
        if (++count >= need) return false;
      }
    }
  }
  return count < need;
}

function concurrency(options: { concurrency?: number }): number {
  const n = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(n) || n < 1) {
    throw new VoxportError("INVALID_ARGUMENT", `concurrency must be an integer >= 1 (got ${n})`);
  }
  return n;
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError");
}

/** One CODEC error carrying what was being done to which key, and the cause (§6.3 item 3). */
function codecError(e: unknown, what: string): unknown {
  if (isAbort(e) || (isVoxportError(e) && e.code !== "CODEC")) return e;
  return new VoxportError("CODEC", `${what} failed: ${msg(e)}`, { cause: e });
}

/**
 * Run `fn` over `items` with at most `limit` calls in flight. The first failure (or the caller's
 * abort) aborts the signal passed to the other calls, starts no new ones and is rethrown once
 * the calls in flight have settled, so no work outlives the returned promise.
 */
async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  outer: AbortSignal | undefined,
  fn: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  outer?.throwIfAborted();
  const it = items[Symbol.iterator]();
  const ctrl = new AbortController();
  const onAbort = () => ctrl.abort(outer?.reason);
  outer?.addEventListener("abort", onAbort, { once: true });
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure) {
      if (ctrl.signal.aborted) {
        failure = { error: ctrl.signal.reason };
        return;
      }
      const next = it.next();
      if (next.done) return;
      try {
        await fn(next.value, ctrl.signal);
      } catch (error) {
        if (!failure) {
          failure = { error };
          ctrl.abort(error);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: limit }, worker));
  } finally {
    outer?.removeEventListener("abort", onAbort);
  }
  if (failure) throw failure.error;
}
