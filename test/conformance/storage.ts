import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { type ErrorCode, isVoxportError } from "../../src/errors.js";
import { readBytes } from "../../src/storage/io.js";
import type { KvStore } from "../../src/storage/kvstore.js";

/**
 * One behavioural suite for every KvStore driver (tensorstore's TestKeyValueStore*Ops,
 * neuroglancer's testKvStore). Each test gets a fresh, empty store from `makeStore`.
 * Read-only stores (http) run the read parts, with fixtures written through `writerFor`.
 */
export interface StorageConformanceOptions {
  /** For stores without `write`: a writable store over the same objects, to create fixtures. */
  writerFor?: (store: KvStore) => KvStore;
  /** The store hands back the contentType given to put. */
  keepsContentType?: boolean;
  /** get() returns gzip'd objects already decoded, with no contentEncoding (fetch does this). */
  decodesGzip?: boolean;
  /** Keys in the large-listing test; above 1000 to cross S3's page size. Default 1100. */
  manyKeys?: number;
}

export const SPECIAL_KEYS = [
  "8_8_40/-64--1_0-64_0-64",
  "0-64_0-64_0-64",
  "with space/a b",
  "hash#1",
  "query?x=1&y=2",
  "percent%20not-escaped",
  "plus+colon:at@",
  "unicode/ünïcødé",
  ".voxport/done/task-1",
];

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

export function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Asserts that `promise` rejects with a VoxportError of `code` whose message has `includes`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  ...includes: string[]
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isVoxportError(e), `expected a VoxportError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const part of includes) assert.ok(e.message.includes(part), `${e.message} lacks ${part}`);
    return true;
  });
}

export async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of iterable) keys.push(key);
  return keys.sort();
}

export function runStorageConformance(
  name: string,
  makeStore: () => Promise<KvStore>,
  opts: StorageConformanceOptions = {},
): void {
  const open = async () => {
    const store = await makeStore();
    const writer = store.capabilities.write ? store : opts.writerFor?.(store);
    if (writer === undefined) throw new Error(`${name}: read-only store needs opts.writerFor`);
    return { store, writer };
  };
  const writable = (store: KvStore) => store.capabilities.write;

  describe(`storage conformance: ${name}`, () => {
    test("a missing key reads as undefined", async () => {
      const { store } = await open();
      assert.equal(await store.get("nope"), undefined);
      assert.equal(await store.get("no/such/dir/key"), undefined);
      assert.equal(await store.get("nope", { range: { offset: 0, length: 4 } }), undefined);
      assert.equal(await store.get("nope", { range: { suffixLength: 4 } }), undefined);
      assert.equal(await store.stat("nope"), undefined);
      assert.equal(await readBytes(store, "nope"), undefined);
      if (writable(store)) await store.delete("nope");
    });

    test("put then get returns the same bytes", async () => {
      const { store, writer } = await open();
      const data = bytes(1, 2, 3, 4, 5, 250, 0, 255);
      await writer.put("a/b/chunk", data, { contentType: "application/octet-stream" });
      const object = await store.get("a/b/chunk");
      assert.ok(object);
      assert.deepEqual(object.data, data);
      assert.equal(object.contentEncoding, undefined);
      if (object.totalSize !== undefined) assert.equal(object.totalSize, data.length);
      if (opts.keepsContentType) assert.equal(object.contentType, "application/octet-stream");
      const stat = await store.stat("a/b/chunk");
      assert.equal(stat?.size, data.length);
      assert.equal(stat?.contentEncoding, undefined);
    });

    test("an empty object exists and has size 0", async () => {
      const { store, writer } = await open();
      await writer.put("empty", new Uint8Array(0));
      assert.deepEqual((await store.get("empty"))?.data, new Uint8Array(0));
      assert.equal((await store.stat("empty"))?.size, 0);
      const tail = await store.get("empty", { range: { suffixLength: 3 } });
      assert.deepEqual(tail?.data, new Uint8Array(0));
      assert.equal(tail?.totalSize, 0);
    });

    test("put replaces the whole object", async () => {
      const { store, writer } = await open();
      await writer.put("k", text("a much longer first version"));
      await writer.put("k", text("short"));
      assert.deepEqual((await store.get("k"))?.data, text("short"));
      assert.equal((await store.stat("k"))?.size, 5);
    });

    test("offset ranges, clamped at the end like HTTP", async () => {
      const { store, writer } = await open();
      const data = Uint8Array.from({ length: 100 }, (_, i) => i);
      await writer.put("r", data);
      const read = async (offset: number, length: number) => {
        const object = await store.get("r", { range: { offset, length } });
        assert.ok(object);
        assert.equal(object.totalSize, 100, "totalSize is set on ranged reads");
        return object.data;
      };
      assert.deepEqual(await read(0, 10), data.slice(0, 10));
      assert.deepEqual(await read(37, 20), data.slice(37, 57));
      assert.deepEqual(await read(90, 50), data.slice(90), "past the end is cut");
      assert.deepEqual(await read(99, 1), bytes(99));
      assert.deepEqual(await read(100, 5), new Uint8Array(0), "starting at the end is empty");
      assert.deepEqual(await read(500, 5), new Uint8Array(0), "starting past the end is empty");
      assert.deepEqual(await read(10, 0), new Uint8Array(0));
    });

    test("suffix ranges", async () => {
      const { store, writer } = await open();
      const data = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
      await writer.put("s", data);
      const read = async (suffixLength: number) => {
        const object = await store.get("s", { range: { suffixLength } });
        assert.ok(object);
        assert.equal(object.totalSize, 100);
        return object.data;
      };
      assert.deepEqual(await read(16), data.slice(84));
      assert.deepEqual(await read(100), data);
      assert.deepEqual(await read(1000), data, "a suffix longer than the object is all of it");
      assert.deepEqual(await read(0), new Uint8Array(0));
    });

    test("invalid ranges are INVALID_ARGUMENT", async () => {
      const { store, writer } = await open();
      await writer.put("r", bytes(1, 2, 3));
      await rejectsWith(store.get("r", { range: { offset: -1, length: 2 } }), "INVALID_ARGUMENT");
      await rejectsWith(store.get("r", { range: { offset: 0, length: 1.5 } }), "INVALID_ARGUMENT");
      await rejectsWith(store.get("r", { range: { suffixLength: -3 } }), "INVALID_ARGUMENT");
    });

    test("keys that would escape the root are INVALID_ARGUMENT", async () => {
      const { store } = await open();
      for (const key of ["../x", "/abs", "a/../../x", "a//b", "a/./b", "", "dir/"]) {
        await rejectsWith(store.get(key), "INVALID_ARGUMENT", store.url);
        await rejectsWith(store.stat(key), "INVALID_ARGUMENT");
        if (writable(store)) {
          await rejectsWith(store.put(key, bytes(1)), "INVALID_ARGUMENT");
          await rejectsWith(store.delete(key), "INVALID_ARGUMENT");
        }
      }
    });

    test("keys with special characters", async () => {
      const { store, writer } = await open();
      for (const [i, key] of SPECIAL_KEYS.entries()) await writer.put(key, bytes(i, i + 1));
      for (const [i, key] of SPECIAL_KEYS.entries()) {
        assert.deepEqual((await store.get(key))?.data, bytes(i, i + 1), key);
      }
      if (store.capabilities.list) {
        assert.deepEqual(await collect(store.list("")), [...SPECIAL_KEYS].sort());
      }
    });

    test("gzip content encoding round-trips", async () => {
      const { store, writer } = await open();
      const plain = text("compressible ".repeat(200));
      const gz = new Uint8Array(gzipSync(plain));
      await writer.put("seg/0-64_0-64_0-64", gz, { contentEncoding: "gzip" });
      const object = await store.get("seg/0-64_0-64_0-64");
      assert.ok(object);
      if (opts.decodesGzip) {
        assert.equal(object.contentEncoding, undefined);
        assert.deepEqual(object.data, plain);
      } else {
        assert.equal(object.contentEncoding, "gzip");
        assert.deepEqual(object.data, gz);
        const stat = await store.stat("seg/0-64_0-64_0-64");
        assert.deepEqual(stat && { size: stat.size, enc: stat.contentEncoding }, {
          size: gz.length,
          enc: "gzip",
        });
      }
      assert.deepEqual(await readBytes(store, "seg/0-64_0-64_0-64"), plain);
      if (store.capabilities.list) {
        assert.deepEqual(await collect(store.list("seg/")), ["seg/0-64_0-64_0-64"]);
      }
      // Re-encoding in either direction leaves exactly one version behind.
      await writer.put("seg/0-64_0-64_0-64", text("plain now"));
      const replaced = await store.get("seg/0-64_0-64_0-64");
      assert.equal(replaced?.contentEncoding, undefined);
      assert.deepEqual(replaced?.data, text("plain now"));
      await writer.put("seg/0-64_0-64_0-64", gz, { contentEncoding: "gzip" });
      assert.deepEqual(await readBytes(store, "seg/0-64_0-64_0-64"), plain);
    });

    test("list: nested keys and prefix filtering", async (t) => {
      const { store, writer } = await open();
      if (!store.capabilities.list) return t.skip("store cannot list");
      const keys = ["info", "a/b/c", "a/b/d", "a/e", "ab", "abc/x", "z/deep/er/still"];
      for (const key of keys) await writer.put(key, text(key));
      assert.deepEqual(await collect(store.list("")), [...keys].sort());
      assert.deepEqual(await collect(store.list("a/")), ["a/b/c", "a/b/d", "a/e"]);
      assert.deepEqual(await collect(store.list("a/b")), ["a/b/c", "a/b/d"]);
      assert.deepEqual(await collect(store.list("a")), ["a/b/c", "a/b/d", "a/e", "ab", "abc/x"]);
      assert.deepEqual(await collect(store.list("ab")), ["ab", "abc/x"]);
      assert.deepEqual(await collect(store.list("z/deep/")), ["z/deep/er/still"]);
      assert.deepEqual(await collect(store.list("missing/")), []);
      assert.deepEqual(await collect(store.list("info")), ["info"]);
      await rejectsWith(collect(store.list("../")), "INVALID_ARGUMENT");
    });

    test("list: more than 1000 keys", async (t) => {
      const { store, writer } = await open();
      if (!store.capabilities.list) return t.skip("store cannot list");
      const count = opts.manyKeys ?? 1100;
      const expected = Array.from({ length: count }, (_, i) => `many/${i % 7}/k${i}`);
      for (let i = 0; i < expected.length; i += 64) {
        await Promise.all(expected.slice(i, i + 64).map((key) => writer.put(key, bytes(1))));
      }
      await writer.put("other/k", bytes(2));
      const listed = await collect(store.list("many/"));
      assert.equal(listed.length, count);
      assert.deepEqual(listed, [...expected].sort());
    });

    test("delete removes the object; deleting twice is fine", async (t) => {
      const { store } = await open();
      if (!writable(store)) return t.skip("read-only store");
      await store.put("d/x", bytes(1));
      await store.put("d/y", bytes(2));
      await store.put("d/gz", new Uint8Array(gzipSync(bytes(3))), { contentEncoding: "gzip" });
      await store.delete("d/x");
      await store.delete("d/x");
      await store.delete("d/gz");
      assert.equal(await store.get("d/x"), undefined);
      assert.equal(await store.stat("d/gz"), undefined);
      assert.deepEqual((await store.get("d/y"))?.data, bytes(2));
      if (store.capabilities.list) assert.deepEqual(await collect(store.list("d/")), ["d/y"]);
    });

    test("concurrent puts to one key leave one complete object", async (t) => {
      const { store } = await open();
      if (!writable(store)) return t.skip("read-only store");
      const size = 512 * 1024;
      const writers = 8;
      const rounds = 4;
      let writing = true;
      const check = (data: Uint8Array) => {
        assert.equal(data.length, size, "never a truncated object");
        const first = data[0];
        assert.ok(
          data.every((b) => b === first),
          "never a mix of two puts",
        );
      };
      // Readers poll while the writers race, so a non-atomic put would show up as a short or
      // mixed read, not only in the final state.
      // A reader keeps its failure instead of rejecting early (nobody awaits it yet).
      let failure: unknown;
      const reader = async () => {
        while (writing && failure === undefined) {
          try {
            const object = await store.get("hot/key");
            if (object !== undefined) check(object.data);
          } catch (e) {
            failure = e;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const readers = [reader(), reader(), reader()];
      for (let round = 0; round < rounds; round++) {
        await Promise.all(
          Array.from({ length: writers }, (_, i) =>
            store.put("hot/key", new Uint8Array(size).fill(round * writers + i + 1)),
          ),
        );
      }
      writing = false;
      await Promise.all(readers);
      if (failure !== undefined) throw failure;
      const final = await store.get("hot/key");
      assert.ok(final);
      check(final.data);
      assert.ok(final.data[0] >= 1 && final.data[0] <= writers * rounds);
      if (store.capabilities.list) assert.deepEqual(await collect(store.list("hot/")), ["hot/key"]);
    });

    test("an aborted signal rejects with ABORTED", async () => {
      const { store, writer } = await open();
      await writer.put("k", bytes(1));
      const signal = AbortSignal.abort();
      await rejectsWith(store.get("k", { signal }), "ABORTED");
      await rejectsWith(store.stat("k", { signal }), "ABORTED");
      if (writable(store)) await rejectsWith(store.put("k", bytes(2), { signal }), "ABORTED");
    });

    test("a read-only store refuses writes with UNSUPPORTED", async (t) => {
      const { store } = await open();
      if (writable(store)) return t.skip("writable store");
      await rejectsWith(store.put("k", bytes(1)), "UNSUPPORTED", store.url);
      await rejectsWith(store.delete("k"), "UNSUPPORTED", store.url);
      if (!store.capabilities.list) {
        await rejectsWith(collect(store.list("")), "UNSUPPORTED", store.url);
      }
    });

    test("url is normalised without a trailing slash", async () => {
      const { store } = await open();
      assert.ok(!store.url.endsWith("/"), store.url);
      assert.match(store.url, /^[a-z][a-z0-9+.-]*:\/\//);
    });
  });
}
