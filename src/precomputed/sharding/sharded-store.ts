/**
 * Read chunks of a sharded scale through any KvStore (precomputed-format.md §4.7; NG
 * `sharded.ts`, TS `neuroglancer_uint64_sharded`). A read costs at most three ranged gets: the
 * 16-byte shard index entry, the minishard index, the chunk. Decoded minishard indexes are kept in
 * a bounded LRU; failures and missing shard files are not cached, so a retry (or a shard written
 * later) is seen. Shard files are assumed immutable while cached: call `clearCache()` after
 * rewriting one.
 */
import { VoxportError } from "../../errors.js";
import type { KvStore } from "../../storage/kvstore.js";
import type { ShardingSpec } from "../types.js";
import {
  decodeEncoding,
  decodeMinishardIndex,
  decodeShardIndexEntry,
  findChunk,
  type MinishardIndex,
} from "./decoder.js";
import { shardAndMinishard, shardFileName, validateShardingSpec } from "./spec.js";

export interface ShardedReaderOptions {
  /** Decoded minishard indexes to keep; default 1024. */
  minishardCacheSize?: number;
}

const EMPTY: MinishardIndex = {
  ids: new BigUint64Array(0),
  starts: new Float64Array(0),
  ends: new Float64Array(0),
};

export class ShardedReader {
  readonly store: KvStore;
  readonly spec: ShardingSpec;
  readonly prefix: string;
  private readonly cacheSize: number;
  /** `shardKey#minishard` → decoded index (EMPTY for an empty minishard); promises dedupe reads. */
  private readonly cache = new Map<string, Promise<MinishardIndex | undefined>>();

  /**
   * @param store base store; must support ranged reads
   * @param prefix key prefix of the scale (its `key`, e.g. `8_8_40`); may be empty
   * @throws VoxportError("UNSUPPORTED") if the store cannot do ranged reads
   * @throws VoxportError("INVALID_INFO") if `spec` is invalid
   */
  constructor(
    store: KvStore,
    prefix: string,
    spec: ShardingSpec,
    options: ShardedReaderOptions = {},
  ) {
    if (!store.capabilities.rangeReads) {
      throw new VoxportError("UNSUPPORTED", `${store.url}: sharded reads need ranged reads`);
    }
    this.store = store;
    this.spec = validateShardingSpec(spec);
    this.prefix = prefix.replace(/\/+$/, "");
    this.cacheSize = Math.max(1, options.minishardCacheSize ?? 1024);
  }

  /** Store key of shard file `shard`, e.g. `8_8_40/1a.shard`. */
  shardKey(shard: bigint | number): string {
    const name = shardFileName(this.spec, shard);
    return this.prefix === "" ? name : `${this.prefix}/${name}`;
  }

  /**
   * The chunk's bytes (after undoing `data_encoding`), or `undefined` when the shard file, the
   * minishard or the chunk is absent. `signal` aborts the chunk read; a minishard index read
   * already under way is shared with other callers and finishes regardless.
   * @throws VoxportError("CODEC") naming the shard key when the shard is malformed
   */
  async get(
    chunkId: bigint,
    options: { signal?: AbortSignal } = {},
  ): Promise<Uint8Array | undefined> {
    const { signal } = options;
    signal?.throwIfAborted();
    const { shard, minishard } = shardAndMinishard(this.spec, chunkId);
    const key = this.shardKey(shard);
    const index = await this.minishardIndex(key, minishard);
    signal?.throwIfAborted();
    const span = index && findChunk(index, chunkId);
    if (!span) return undefined;
    const what = `chunk ${chunkId}`;
    const stored = await this.readRange(key, span.start, span.end - span.start, what, signal);
    if (!stored) return undefined;
    return this.wrap(key, () => decodeEncoding(this.spec.data_encoding, stored.data, what));
  }

  /** Forget all cached minishard indexes (e.g. after rewriting shard files). */
  clearCache(): void {
    this.cache.clear();
  }

  private minishardIndex(key: string, minishard: number): Promise<MinishardIndex | undefined> {
    const cacheKey = `${key}#${minishard}`;
    const hit = this.cache.get(cacheKey);
    if (hit) {
      this.cache.delete(cacheKey); // move to most recent
      this.cache.set(cacheKey, hit);
      return hit;
    }
    const pending = this.fetchMinishardIndex(key, minishard).then(
      (index) => {
        if (index === undefined) this.forget(cacheKey, pending); // missing file: ask again next time
        return index;
      },
      (e: unknown) => {
        this.forget(cacheKey, pending);
        throw e;
      },
    );
    this.cache.set(cacheKey, pending);
    if (this.cache.size > this.cacheSize) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    return pending;
  }

  private forget(cacheKey: string, entry: Promise<unknown>): void {
    if (this.cache.get(cacheKey) === entry) this.cache.delete(cacheKey);
  }

  /** Shard index entry, then the minishard index. undefined = no shard file. */
  private async fetchMinishardIndex(
    key: string,
    minishard: number,
  ): Promise<MinishardIndex | undefined> {
    const entry = await this.readRange(key, 16 * minishard, 16, `shard index entry ${minishard}`);
    if (!entry) return undefined;
    const fileSize = entry.totalSize;
    const span = this.wrap(key, () =>
      decodeShardIndexEntry(this.spec, entry.data, minishard, fileSize),
    );
    if (!span) return EMPTY;
    const what = `minishard ${minishard} index`;
    const stored = await this.readRange(key, span.start, span.end - span.start, what);
    if (!stored) return undefined;
    return this.wrap(key, () => {
      try {
        return decodeMinishardIndex(this.spec, stored.data, fileSize);
      } catch (e) {
        throw new VoxportError("CODEC", `${what}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  private async readRange(
    key: string,
    offset: number,
    length: number,
    what: string,
    signal?: AbortSignal,
  ): Promise<{ data: Uint8Array; totalSize?: number } | undefined> {
    if (length === 0) return { data: new Uint8Array(0) };
    const obj = await this.store.get(key, { range: { offset, length }, signal });
    if (!obj) return undefined;
    if (obj.contentEncoding) {
      throw this.error(
        key,
        `stored with Content-Encoding ${obj.contentEncoding}; shard files must be plain for ranged reads`,
      );
    }
    if (obj.data.byteLength !== length) {
      throw this.error(
        key,
        `${what}: bytes [${offset}, ${offset + length}) requested, ${obj.data.byteLength} returned (truncated shard?)`,
      );
    }
    return { data: obj.data, totalSize: obj.totalSize };
  }

  private error(key: string, message: string, cause?: unknown): VoxportError {
    return new VoxportError(
      "CODEC",
      `${this.store.url}/${key}: ${message}`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Run a pure decode step, naming the shard in any CODEC error. */
  private wrap<T>(key: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof VoxportError && e.code === "CODEC") throw this.error(key, e.message, e);
      throw e;
    }
  }
}
