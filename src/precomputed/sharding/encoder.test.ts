import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { isVoxportError } from "../../errors.js";
import type { ShardingSpec } from "../types.js";
import { splitShard } from "./decoder.js";
import { encodeMinishardIndex, encodeShard, encodeShardData } from "./encoder.js";
import { encodeCompressedMorton } from "./morton.js";
import { shardAndMinishard, shardFileName } from "./spec.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

const EXAMPLE: ShardingSpec = {
  "@type": "neuroglancer_uint64_sharded_v1",
  preshift_bits: 0,
  hash: "identity",
  minishard_bits: 1,
  shard_bits: 1,
  minishard_index_encoding: "raw",
  data_encoding: "raw",
};

/** §4.4 worked example: uint8 volume [4,4,2], chunk [2,2,2], value x + 4y + 16z. */
function exampleChunks() {
  const grid = [2, 2, 1];
  const chunks: Array<{ id: bigint; data: Uint8Array }> = [];
  for (let cy = 0; cy < 2; cy++)
    for (let cx = 0; cx < 2; cx++) {
      const data = new Uint8Array(8);
      let i = 0;
      for (let z = 0; z < 2; z++)
        for (let y = 0; y < 2; y++)
          for (let x = 0; x < 2; x++) data[i++] = cx * 2 + x + 4 * (cy * 2 + y) + 16 * z;
      chunks.push({ id: encodeCompressedMorton(grid, [cx, cy, 0]), data });
    }
  return chunks;
}

describe("encodeShard", () => {
  it("§4.4 worked example chunk bytes", () => {
    assert.deepEqual(
      exampleChunks().map((c) => [c.id, hex(c.data)]),
      [
        [0n, "0001040510111415"],
        [1n, "0203060712131617"],
        [2n, "08090c0d18191c1d"],
        [3n, "0a0b0e0f1a1b1e1f"],
      ],
    );
  });

  it("§4.4 worked example: 0.shard and 1.shard byte for byte", () => {
    const chunks = exampleChunks();
    const byShard = new Map<string, typeof chunks>();
    for (const c of chunks) {
      const name = shardFileName(EXAMPLE, shardAndMinishard(EXAMPLE, c.id).shard);
      byShard.set(name, [...(byShard.get(name) ?? []), c]);
    }
    assert.deepEqual([...byShard.keys()], ["0.shard", "1.shard"]);
    const shard0 = fromHex(`
      10 00 00 00 00 00 00 00 28 00 00 00 00 00 00 00
      28 00 00 00 00 00 00 00 40 00 00 00 00 00 00 00
      00 01 04 05 10 11 14 15 02 03 06 07 12 13 16 17
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
      08 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
      08 00 00 00 00 00 00 00 08 00 00 00 00 00 00 00`);
    const shard1 = shard0.slice();
    shard1.set(fromHex("08090c0d18191c1d0a0b0e0f1a1b1e1f"), 0x20);
    shard1[0x30] = 2;
    shard1[0x48] = 3;
    // Input order must not matter.
    assert.equal(hex(encodeShard(EXAMPLE, byShard.get("0.shard")!.reverse())), hex(shard0));
    assert.equal(hex(encodeShard(EXAMPLE, byShard.get("1.shard")!)), hex(shard1));
  });

  it("sorts ids within a minishard; CV start deltas", () => {
    const spec: ShardingSpec = { ...EXAMPLE, shard_bits: 0, minishard_bits: 1 };
    const c = (id: bigint, ...bytes: number[]) => ({ id, data: new Uint8Array(bytes) });
    const out = encodeShard(spec, [c(8n, 6, 7, 8), c(3n, 9, 10), c(2n, 1, 2, 3, 4)]);
    // data: minishard 0 = chunks 2, 8; minishard 1 = chunk 3; then the two indexes.
    assert.equal(hex(out.subarray(32, 41)), "01020304060708090a");
    assert.equal(hex(out.subarray(41, 89)), hex(encodeMinishardIndex([2n, 8n], [0, 4], [4, 3])));
    assert.equal(hex(out.subarray(89)), hex(encodeMinishardIndex([3n], [7], [2])));
    assert.deepEqual(
      splitShard(spec, out).map((x) => [x.id, hex(x.data)]),
      [
        [2n, "01020304"],
        [8n, "060708"],
        [3n, "090a"],
      ],
    );
  });

  it("gzip: RFC 1952 containers, level option, round trip", () => {
    const spec: ShardingSpec = {
      ...EXAMPLE,
      hash: "murmurhash3_x86_128",
      minishard_bits: 3,
      shard_bits: 0,
      minishard_index_encoding: "gzip",
      data_encoding: "gzip",
    };
    const chunks = Array.from({ length: 200 }, (_, i) => ({
      id: BigInt(i * 7919) ** 2n,
      data: new Uint8Array(100 + (i % 13)).fill(i & 255),
    }));
    const out = encodeShard(spec, chunks, { gzipLevel: 9 });
    const fast = encodeShard(spec, chunks, { gzipLevel: 1 });
    assert.ok(out.byteLength <= fast.byteLength);
    // Each chunk's stored bytes start with the gzip magic.
    const view = new DataView(out.buffer);
    const start = Number(view.getBigUint64(0, true)) + 16 * 8;
    assert.deepEqual([out[start], out[start + 1]], [0x1f, 0x8b]);
    assert.equal(
      gunzipSync(out.subarray(start, Number(view.getBigUint64(8, true)) + 128)).byteLength % 24,
      0,
    );
    const back = splitShard(spec, out);
    const want = [...chunks].sort((a, b) => (a.id < b.id ? -1 : 1));
    assert.deepEqual(
      back.map((c) => c.id).sort((a, b) => (a < b ? -1 : 1)),
      want.map((c) => c.id),
    );
    for (const c of back) {
      const orig = chunks.find((x) => x.id === c.id)!;
      assert.deepEqual(c.data, orig.data);
    }
  });

  it("chunks pre-encoded with encodeShardData give the same shard (dataEncoded)", async () => {
    const spec: ShardingSpec = {
      ...EXAMPLE,
      minishard_bits: 2,
      shard_bits: 0,
      minishard_index_encoding: "gzip",
      data_encoding: "gzip",
    };
    const chunks = Array.from({ length: 40 }, (_, i) => ({
      id: BigInt(i),
      data: new Uint8Array(3000 + 17 * i).map((_, k) => (k * (i + 1)) % 251),
    }));
    for (const gzipLevel of [1, 6, 9]) {
      const pre = await Promise.all(
        chunks.map(async (c) => ({
          id: c.id,
          data: await encodeShardData(spec, c.data, gzipLevel),
        })),
      );
      assert.deepEqual(
        encodeShard(spec, pre, { gzipLevel, dataEncoded: true }),
        encodeShard(spec, chunks, { gzipLevel }),
      );
    }
    // raw data_encoding: encodeShardData leaves the bytes alone.
    const raw = { ...spec, data_encoding: "raw" as const };
    assert.equal(await encodeShardData(raw, chunks[0].data), chunks[0].data);
  });

  it("empty input gives an all-zero shard index", () => {
    assert.deepEqual(encodeShard(EXAMPLE, []), new Uint8Array(32));
  });

  it("rejects duplicates, mixed shards and bad keys", () => {
    const d = new Uint8Array(1);
    const bad = (f: () => unknown, re: RegExp) =>
      assert.throws(f, (e) => isVoxportError(e, "INVALID_ARGUMENT") && re.test(e.message));
    bad(
      () =>
        encodeShard(EXAMPLE, [
          { id: 1n, data: d },
          { id: 1n, data: d },
        ]),
      /duplicate chunk id 1/,
    );
    bad(
      () =>
        encodeShard(EXAMPLE, [
          { id: 0n, data: d },
          { id: 2n, data: d },
        ]),
      /shard 1.*shard 0/,
    );
    bad(() => encodeShard(EXAMPLE, [{ id: -1n, data: d }]), /uint64/);
    assert.throws(
      () => encodeShard({ ...EXAMPLE, minishard_bits: 30 }, []),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
  });
});
