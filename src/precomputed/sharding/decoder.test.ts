import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { isVoxportError } from "../../errors.js";
import type { ShardingSpec } from "../types.js";
import {
  decodeMinishardIndex,
  decodeShardIndex,
  decodeShardIndexEntry,
  findChunk,
  splitShard,
} from "./decoder.js";
import { encodeShard } from "./encoder.js";

const RAW: ShardingSpec = {
  "@type": "neuroglancer_uint64_sharded_v1",
  preshift_bits: 0,
  hash: "identity",
  minishard_bits: 1,
  shard_bits: 0,
  minishard_index_encoding: "raw",
  data_encoding: "raw",
};

function u64s(...values: number[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setBigUint64(8 * i, BigInt(v), true);
  });
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

/** §4.4 TS-layout example (uint64_sharded_encoder_test.cc), 113 bytes. */
const TS_SHARD = concat(
  u64s(7, 55, 57, 81),
  new Uint8Array([1, 2, 3, 4]),
  new Uint8Array([6, 7, 8]),
  u64s(2, 6, 0, 0, 4, 3),
  new Uint8Array([9, 10]),
  u64s(3, 55, 2),
);

const codecError = (re: RegExp) => (e: unknown) => isVoxportError(e, "CODEC") && re.test(e.message);

describe("shard decoder", () => {
  it("TS-layout example: index, minishard indexes, chunks", () => {
    assert.equal(TS_SHARD.byteLength, 113);
    const index = decodeShardIndex(RAW, TS_SHARD, TS_SHARD.byteLength);
    assert.deepEqual(index, [
      { start: 39, end: 87 },
      { start: 89, end: 113 },
    ]);
    const m0 = decodeMinishardIndex(RAW, TS_SHARD.subarray(39, 87), 113);
    assert.deepEqual([...m0.ids], [2n, 8n]);
    assert.deepEqual(findChunk(m0, 2n), { start: 32, end: 36 });
    assert.deepEqual(findChunk(m0, 8n), { start: 36, end: 39 });
    assert.equal(findChunk(m0, 3n), undefined);
    assert.equal(findChunk(m0, 9n), undefined);
    const m1 = decodeMinishardIndex(RAW, TS_SHARD.subarray(89, 113), 113);
    assert.deepEqual(findChunk(m1, 3n), { start: 87, end: 89 });
    assert.deepEqual(
      splitShard(RAW, TS_SHARD).map((c) => [c.id, [...c.data]]),
      [
        [2n, [1, 2, 3, 4]],
        [8n, [6, 7, 8]],
        [3n, [9, 10]],
      ],
    );
  });

  it("empty minishards read as undefined", () => {
    const shard = encodeShard({ ...RAW, minishard_bits: 2 }, [
      { id: 1n, data: new Uint8Array([5]) },
    ]);
    assert.deepEqual(decodeShardIndex({ ...RAW, minishard_bits: 2 }, shard), [
      undefined,
      { start: 65, end: 89 },
      undefined,
      undefined,
    ]);
  });

  it("findChunk over a large minishard", () => {
    const spec = { ...RAW, minishard_bits: 0 };
    const chunks = Array.from({ length: 1000 }, (_, i) => ({
      id: BigInt(i) * 3n + 2n ** 40n,
      data: new Uint8Array([i & 255, i >> 8]),
    }));
    const shard = encodeShard(spec, chunks);
    const [span] = decodeShardIndex(spec, shard, shard.byteLength);
    const index = decodeMinishardIndex(
      spec,
      shard.subarray(span!.start, span!.end),
      shard.byteLength,
    );
    for (const [i, c] of chunks.entries()) {
      const r = findChunk(index, c.id)!;
      assert.deepEqual([...shard.subarray(r.start, r.end)], [i & 255, i >> 8]);
      assert.equal(findChunk(index, c.id + 1n), undefined);
    }
  });

  it("rejects a truncated shard index", () => {
    assert.throws(
      () => decodeShardIndex(RAW, TS_SHARD.subarray(0, 20)),
      codecError(/shard index truncated: 20 bytes, expected 32/),
    );
    assert.throws(
      () => decodeShardIndexEntry(RAW, TS_SHARD.subarray(0, 8), 0),
      codecError(/8 bytes, expected 16/),
    );
  });

  it("rejects minishard index ranges that are inverted or past the end", () => {
    const inverted = concat(u64s(55, 7), TS_SHARD.subarray(16));
    assert.throws(
      () => decodeShardIndex(RAW, inverted),
      codecError(/entry 0: invalid minishard index range \[55, 7\)/),
    );
    const past = concat(u64s(7, 55, 57, 82), TS_SHARD.subarray(32));
    assert.throws(
      () => decodeShardIndex(RAW, past, 113),
      codecError(/entry 1: .*\[89, 114\) extends past the end of the 113-byte shard/),
    );
    const huge = concat(u64s(7, 55, 2 ** 53, 2 ** 53 + 5), TS_SHARD.subarray(32));
    assert.throws(() => decodeShardIndex(RAW, huge), codecError(/entry 1: invalid/));
    const hugeEqual = new Uint8Array(16).fill(0xff);
    assert.equal(decodeShardIndexEntry(RAW, hugeEqual, 0), undefined);
    hugeEqual[0] = 0xfe;
    assert.throws(() => decodeShardIndexEntry(RAW, hugeEqual, 0), codecError(/invalid/));
  });

  it("rejects a minishard index whose length is not a multiple of 24", () => {
    assert.throws(
      () => decodeMinishardIndex(RAW, TS_SHARD.subarray(39, 86)),
      codecError(/47 bytes, not a multiple of 24/),
    );
    assert.throws(
      () => splitShard(RAW, concat(u64s(7, 54, 57, 81), TS_SHARD.subarray(32))),
      codecError(/minishard 0: .*47 bytes/),
    );
  });

  it("rejects chunk offsets past the end of the file", () => {
    const m = u64s(2, 6, 0, 0, 4, 100);
    assert.throws(
      () => decodeMinishardIndex(RAW, m, 113),
      codecError(/chunk 8 range \[36, 136\) extends past the end of the 113-byte shard/),
    );
    const wrapped = concat(u64s(2, 0), new Uint8Array(8).fill(0xff)); // start delta "-1"
    assert.throws(() => decodeMinishardIndex(RAW, wrapped, 113), codecError(/extends past/));
  });

  it("rejects duplicate ids and id overflow", () => {
    assert.throws(
      () => decodeMinishardIndex(RAW, u64s(2, 0, 0, 0, 4, 3)),
      codecError(/duplicate chunk id 2/),
    );
    const over = concat(new Uint8Array(8).fill(0xff), u64s(1, 0, 0, 1, 1));
    assert.throws(() => decodeMinishardIndex(RAW, over), codecError(/overflows uint64/));
  });

  it("rejects corrupt gzip", () => {
    const gz: ShardingSpec = { ...RAW, minishard_index_encoding: "gzip", data_encoding: "gzip" };
    const good = gzipSync(u64s(2, 0, 4));
    assert.deepEqual([...decodeMinishardIndex(gz, good).ids], [2n]);
    const bad = good.slice();
    bad[bad.length - 5] ^= 0xff; // break the CRC/size trailer
    assert.throws(
      () => decodeMinishardIndex(gz, bad),
      codecError(/minishard index: corrupt gzip data/),
    );
    assert.throws(() => decodeMinishardIndex(gz, u64s(2, 0, 4)), codecError(/corrupt gzip/));
    const shard = encodeShard(gz, [{ id: 1n, data: new Uint8Array(100) }]);
    shard[16 * 2 + 10] ^= 0xff; // inside chunk 1's deflate stream
    assert.throws(() => splitShard(gz, shard), codecError(/chunk 1 data: corrupt gzip/));
  });
});
