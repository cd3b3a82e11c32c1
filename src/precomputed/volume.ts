/**
 * A precomputed volume on a KvStore: read any box of any scale, write chunk-aligned boxes.
 * The format layer alone knows chunk names and encodings; the store only moves bytes
 * (architecture.md §2.4). Missing chunks read as zeros here and nowhere else (§2.2, §7.4).
 */
import { promisify } from "node:util";
import { gunzip as gunzipCb, gzip as gzipCb } from "node:zlib";
import { isVoxportError, VoxportError } from "../errors.js";
import { type Block, makeBlock, type Shape4 } from "../ops/array.js";
import { type Box, boxShape, boxToString } from "../ops/bbox.js";
import { copyBox } from "../ops/copy.js";
import type { KvStore } from "../storage/kvstore.js";
import { type ChunkCodec, getCodec } from "./codecs/registry.js";
import { chunkBox, chunkCellsInBox, chunkKey, chunkMisalignment } from "./grid.js";
import { parseInfo, serializeInfo } from "./info.js";
import type { PrecomputedInfo, ScaleInfo } from "./types.js";

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** Chunk requests in flight per call; enough to hide object-store latency, few enough for sockets. */
export const DEFAULT_CONCURRENCY = 16;
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
  written: number;
  skipped: number;
  /** Bytes stored (after gzip when used). */
  bytes: number;
}

const AXES = ["x", "y", "z"];

export class PrecomputedVolume {
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
    this.requireUnsharded(scale, "reading");
    const shape = boxShape(box);
    if (!shape.every((n, d) => Number.isInteger(n) && n >= 0 && Number.isInteger(box.min[d]))) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `cannot read box ${boxToString(box)}: not a box of integers`,
      );
    }
    const out = makeBlock(this.info.data_type, [...shape, this.info.num_channels] as Shape4);
    if (shape.some((n) => n === 0)) return out;
    const codec = getCodec(scale.encoding);
    await forEachLimit(
      chunkCellsInBox(scale, box),
      concurrency(options),
      options.signal,
      async (cell, signal) => {
        const cb = chunkBox(scale, cell);
        const chunk = await this.readChunkWith(codec, scale, cb, signal);
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
    this.requireUnsharded(scale, "reading");
    return this.readChunkWith(getCodec(scale.encoding), scale, box, options.signal);
  }

  /**
   * Cut `block` (which covers exactly `box`, all channels) into chunks and store them. `box`
   * must be chunk-aligned (see grid.ts `isChunkAligned`); edge chunks are stored clipped.
   */
  async writeChunks(
    scaleIndex: number,
    box: Box,
    block: Block,
    options: WriteChunksOptions = {},
  ): Promise<WriteChunksResult> {
    this.requireWritable();
    const scale = this.scale(scaleIndex);
    this.requireUnsharded(scale, "writing");
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
    const level = options.gzipLevel ?? 6;
    const ratio = options.skipEmptyRatio ?? 0;
    if (compress !== "gzip" && compress !== "none") {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `compress must be "gzip" or "none" (got ${String(compress)})`,
      );
    }
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new VoxportError("INVALID_ARGUMENT", `gzipLevel must be an integer 0–9 (got ${level})`);
    }
    if (!(ratio >= 0 && ratio <= 1)) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `skipEmptyRatio must be within [0, 1] (got ${ratio})`,
      );
    }
    const codec = getCodec(scale.encoding);
    const useGzip = compress === "gzip" && codec.transferGzip;
    const result: WriteChunksResult = { written: 0, skipped: 0, bytes: 0 };

    await forEachLimit(
      chunkCellsInBox(scale, box),
      concurrency(options),
      options.signal,
      async (cell, signal) => {
        const cb = chunkBox(scale, cell);
        const chunk = cutChunk(block, box, cb);
        if (ratio > 0 && nonzeroBelow(chunk, ratio)) {
          result.skipped++;
          if (options.zeroSkipped) copyBox(makeBlock(block.dtype, chunk.shape), cb, block, box);
          return;
        }
        const key = chunkKey(scale, cb);
        let bytes: Uint8Array;
        try {
          bytes = await codec.encode(chunk, scale);
          if (useGzip) bytes = await gzip(bytes, { level });
        } catch (e) {
          throw codecError(e, `${scale.encoding} encode of ${this.store.url}/${key}`);
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

  // HOOK(sharding): a sharded scale stores chunks in shard files keyed by compressed Morton code
  // (§4), not under `chunkKey` names. When src/precomputed/sharding/ provides the adapter, route
  // readChunkWith/writeChunks through it for `scale.sharding` instead of refusing here.
  private requireUnsharded(scale: ScaleInfo, action: string): void {
    if (scale.sharding) {
      throw new VoxportError(
        "UNSUPPORTED",
        `scale ${scale.key} of ${this.infoUrl} is sharded; ${action} sharded scales is not implemented yet`,
      );
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
