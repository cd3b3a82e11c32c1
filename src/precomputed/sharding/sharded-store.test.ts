import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError, VoxportError } from "../../errors.js";
import type { GetOptions, KvStore, StoredObject } from "../../storage/kvstore.js";
import type { ShardingSpec } from "../types.js";
import { encodeShard } from "./encoder.js";
import { encodeCompressedMorton } from "./morton.js";
import { ShardedReader } from "./sharded-store.js";
import { shardAndMinishard, shardFileName } from "./spec.js";

/** Minimal in-memory store that counts ranged reads. */
class CountingStore implements KvStore {
  readonly url = "mem://test";
  readonly capabilities = { write: true, list: true, rangeReads: true, suffixReads: false };
  readonly objects = new Map<string, { data: Uint8Array; contentEncoding?: "gzip" }>();
  rangedReads = 0;
  failNext = 0;

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    options.signal?.throwIfAborted();
    await new Promise((r) => setImmediate(r));
    if (this.failNext > 0) {
      this.failNext--;
      throw new VoxportError("STORAGE", `${this.url}/${key}: injected failure`);
    }
    const obj = this.objects.get(key);
    if (options.range) this.rangedReads++;
    if (!obj) return undefined;
    if (!options.range) return { data: obj.data.slice(), contentEncoding: obj.contentEncoding };
    if (!("offset" in options.range)) throw new Error("suffix reads unsupported");
    const { offset, length } = options.range;
    return {
      data: obj.data.slice(offset, offset + length),
      totalSize: obj.data.byteLength,
      contentEncoding: obj.contentEncoding,
    };
  }
  async put(
    key: string,
    data: Uint8Array,
    options: { contentEncoding?: "gzip" } = {},
  ): Promise<void> {
    this.objects.set(key, { data: data.slice(), contentEncoding: options.contentEncoding });
  }
  async stat(key: string) {
    const o = this.objects.get(key);
    return o && { size: o.data.byteLength };
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
  async *list(prefix: string): AsyncIterable<string> {
    for (const k of this.objects.keys()) if (k.startsWith(prefix)) yield k;
  }
}

const SPEC: ShardingSpec = {
  "@type": "neuroglancer_uint64_sharded_v1",
  preshift_bits: 2,
  hash: "identity",
  minishard_bits: 2,
  shard_bits: 2,
  minishard_index_encoding: "gzip",
  data_encoding: "gzip",
};
const GRID = [4, 4, 4]; // 6 Morton bits: 4 shards × 4 minishards × 4 chunks

/** Chunks of GRID, except the cells listed in `skip`; chunk bytes encode the cell. */
async function makeStore(skip = new Set<bigint>(), prefix = "8_8_8") {
  const store = new CountingStore();
  const byShard = new Map<bigint, Array<{ id: bigint; data: Uint8Array }>>();
  const all = new Map<bigint, Uint8Array>();
  for (let z = 0; z < 4; z++)
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++) {
        const id = encodeCompressedMorton(GRID, [x, y, z]);
        if (skip.has(id)) continue;
        const data = new Uint8Array(50).fill(x + 4 * y + 16 * z);
        all.set(id, data);
        const { shard } = shardAndMinishard(SPEC, id);
        byShard.set(shard, [...(byShard.get(shard) ?? []), { id, data }]);
      }
  for (const [shard, chunks] of byShard) {
    await store.put(`${prefix}/${shardFileName(SPEC, shard)}`, encodeShard(SPEC, chunks));
  }
  return { store, all };
}

describe("ShardedReader", () => {
  it("reads every chunk with at most 3 ranged reads, caching minishard indexes", async () => {
    const { store, all } = await makeStore();
    const reader = new ShardedReader(store, "8_8_8/", SPEC);
    assert.equal(reader.shardKey(3n), "8_8_8/3.shard");
    const ids = [...all.keys()].sort((a, b) => (a < b ? -1 : 1));
    for (const id of ids) {
      const before = store.rangedReads;
      assert.deepEqual(await reader.get(id), all.get(id));
      const reads = store.rangedReads - before;
      // The first chunk of each minishard costs 3 reads, the rest 1.
      assert.equal(reads, id % 4n === 0n ? 3 : 1, `chunk ${id}`);
    }
    assert.equal(store.rangedReads, 16 * 3 + 48);
  });

  it("missing chunk, empty minishard and missing shard file", async () => {
    // Chunks 4..7 are minishard 1 of shard 0: remove all of them. Remove chunk 9 too.
    // Remove all of shard 3 (ids 48..63).
    const skip = new Set<bigint>([4n, 5n, 6n, 7n, 9n]);
    for (let i = 48n; i < 64n; i++) skip.add(i);
    const { store } = await makeStore(skip);
    const reader = new ShardedReader(store, "8_8_8", SPEC);

    assert.equal(await reader.get(9n), undefined);
    assert.equal(store.rangedReads, 2); // entry + minishard index, no chunk read
    assert.ok(await reader.get(8n));
    assert.equal(store.rangedReads, 3);

    assert.equal(await reader.get(5n), undefined);
    assert.equal(store.rangedReads, 4); // empty minishard: entry only
    assert.equal(await reader.get(6n), undefined);
    assert.equal(store.rangedReads, 4); // cached as empty

    assert.equal(await reader.get(50n), undefined);
    assert.equal(store.rangedReads, 5);
    assert.equal(await reader.get(50n), undefined);
    assert.equal(store.rangedReads, 6, "missing shard files are not cached");
  });

  it("shares one minishard index read between concurrent gets", async () => {
    const { store, all } = await makeStore();
    const reader = new ShardedReader(store, "8_8_8", SPEC);
    const got = await Promise.all([16n, 17n, 18n, 19n, 16n].map((id) => reader.get(id)));
    assert.deepEqual(
      got,
      [16n, 17n, 18n, 19n, 16n].map((id) => all.get(id)),
    );
    assert.equal(store.rangedReads, 2 + 5);
  });

  it("keeps the cache bounded (LRU)", async () => {
    const { store } = await makeStore();
    const reader = new ShardedReader(store, "8_8_8", SPEC, { minishardCacheSize: 2 });
    await reader.get(0n); // minishard A
    await reader.get(4n); // B
    await reader.get(1n); // A again: hit, A most recent
    assert.equal(store.rangedReads, 3 + 3 + 1);
    await reader.get(8n); // C evicts B
    await reader.get(2n); // A still cached
    assert.equal(store.rangedReads, 7 + 3 + 1);
    await reader.get(5n); // B was evicted
    assert.equal(store.rangedReads, 11 + 3);
    reader.clearCache();
    await reader.get(3n);
    assert.equal(store.rangedReads, 14 + 3);
  });

  it("does not cache failures; errors name the shard key", async () => {
    const { store, all } = await makeStore();
    const reader = new ShardedReader(store, "8_8_8", SPEC);
    store.failNext = 1;
    await assert.rejects(reader.get(20n), (e) => isVoxportError(e, "STORAGE"));
    assert.deepEqual(await reader.get(20n), all.get(20n));

    // Corrupt the gzip'd minishard index of shard 1, minishard 1 (chunks 20..23).
    const key = "8_8_8/1.shard";
    const good = store.objects.get(key)!.data;
    const view = new DataView(good.buffer, good.byteOffset);
    const start = 64 + Number(view.getBigUint64(16, true));
    const bad = good.slice();
    bad[start + 12] ^= 0x55;
    await store.put(key, bad);
    const reader2 = new ShardedReader(store, "8_8_8", SPEC);
    await assert.rejects(
      reader2.get(21n),
      (e) =>
        isVoxportError(e, "CODEC") &&
        e.message.startsWith("mem://test/8_8_8/1.shard: minishard 1 index: ") &&
        /gzip/.test(e.message),
    );
    await store.put(key, good);
    assert.deepEqual(await reader2.get(21n), all.get(21n));
  });

  it("rejects truncated shards and Content-Encoding on shard files", async () => {
    const { store } = await makeStore();
    const key = "8_8_8/0.shard";
    const data = store.objects.get(key)!.data;
    await store.put(key, data.subarray(0, 40));
    const reader = new ShardedReader(store, "8_8_8", SPEC);
    await assert.rejects(
      reader.get(0n),
      (e) =>
        isVoxportError(e, "CODEC") &&
        /^mem:\/\/test\/8_8_8\/0\.shard: shard index entry 0: .*extends past the end of the 40-byte shard/.test(
          e.message,
        ),
    );
    await assert.rejects(
      reader.get(12n),
      (e) =>
        isVoxportError(e, "CODEC") &&
        /0\.shard: shard index entry 3: bytes \[48, 64\) requested, 0 returned/.test(e.message),
    );
    await store.put(key, data, { contentEncoding: "gzip" });
    await assert.rejects(
      reader.get(0n),
      (e) => isVoxportError(e, "CODEC") && /Content-Encoding gzip/.test(e.message),
    );
  });

  it("honours abort signals and checks store capabilities", async () => {
    const { store } = await makeStore();
    const reader = new ShardedReader(store, "", SPEC);
    assert.equal(reader.shardKey(0n), "0.shard");
    await assert.rejects(reader.get(0n, { signal: AbortSignal.abort() }), { name: "AbortError" });
    const noRange = Object.assign(new CountingStore(), {
      capabilities: { write: true, list: true, rangeReads: false, suffixReads: false },
    });
    assert.throws(
      () => new ShardedReader(noRange, "", SPEC),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
  });
});
