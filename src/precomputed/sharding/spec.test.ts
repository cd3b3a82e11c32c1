import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../../errors.js";
import type { ShardingSpec } from "../types.js";
import { chunkGridShape, encodeCompressedMorton } from "./morton.js";
import {
  chooseShardingSpec,
  minishardShapeInChunks,
  shardAndMinishard,
  shardFileName,
  shardIndexSize,
  shardRegion,
  shardShapeInChunks,
  shardsAreBoxes,
  validateShardingSpec,
} from "./spec.js";

function spec(
  preshift_bits: number,
  minishard_bits: number,
  shard_bits: number,
  hash: ShardingSpec["hash"] = "identity",
): ShardingSpec {
  return {
    "@type": "neuroglancer_uint64_sharded_v1",
    preshift_bits,
    hash,
    minishard_bits,
    shard_bits,
    minishard_index_encoding: "gzip",
    data_encoding: "gzip",
  };
}

describe("validateShardingSpec", () => {
  it("accepts a valid spec and defaults missing encodings to raw", () => {
    const s = validateShardingSpec({
      "@type": "neuroglancer_uint64_sharded_v1",
      preshift_bits: 9,
      hash: "identity",
      minishard_bits: 6,
      shard_bits: 15,
    });
    assert.equal(s.minishard_index_encoding, "raw");
    assert.equal(s.data_encoding, "raw");
    assert.deepEqual(
      validateShardingSpec(spec(1, 2, 3, "murmurhash3_x86_128")),
      spec(1, 2, 3, "murmurhash3_x86_128"),
    );
  });

  it("names the bad field", () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /scales\[0\]\.sharding must be an object/],
      [{ ...spec(0, 0, 0), "@type": "x" }, /@type/],
      [{ ...spec(0, 0, 0), preshift_bits: 65 }, /preshift_bits must be an integer/],
      [{ ...spec(0, 0, 0), shard_bits: 1.5 }, /shard_bits/],
      [{ ...spec(0, 0, 0), minishard_bits: "1" }, /minishard_bits/],
      [{ ...spec(0, 40, 30) }, /minishard_bits \+ shard_bits = 70 exceeds 64/],
      [{ ...spec(0, 0, 0), hash: "md5" }, /hash/],
      [{ ...spec(0, 0, 0), data_encoding: "zstd" }, /data_encoding/],
    ];
    for (const [value, re] of cases) {
      assert.throws(
        () => validateShardingSpec(value, "scales[0].sharding"),
        (e) => isVoxportError(e, "INVALID_INFO") && re.test(e.message),
        String(re),
      );
    }
    assert.throws(
      () => validateShardingSpec(spec(0, 50, 0)),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
  });
});

describe("shardAndMinishard / shardFileName (§4.2)", () => {
  it("murmurhash, minishard_bits=2, shard_bits=3", () => {
    const s = spec(0, 2, 3, "murmurhash3_x86_128");
    const table: Array<[bigint, number, bigint, string]> = [
      [0n, 1, 0n, "0.shard"],
      [1n, 2, 6n, "6.shard"],
      [42n, 2, 6n, "6.shard"],
      [1000n, 3, 3n, "3.shard"],
      [123456789n, 3, 1n, "1.shard"],
    ];
    for (const [key, minishard, shard, file] of table) {
      assert.deepEqual(shardAndMinishard(s, key), { shard, minishard }, `key ${key}`);
      assert.equal(shardFileName(s, shard), file);
    }
  });

  it("murmurhash, minishard_bits=6, shard_bits=10", () => {
    const s = spec(0, 6, 10, "murmurhash3_x86_128");
    const table: Array<[bigint, number, bigint, string]> = [
      [1n, 26, 826n, "33a.shard"],
      [42n, 58, 977n, "3d1.shard"],
      [123456789n, 39, 96n, "060.shard"],
    ];
    for (const [key, minishard, shard, file] of table) {
      assert.deepEqual(shardAndMinishard(s, key), { shard, minishard }, `key ${key}`);
      assert.equal(shardFileName(s, shard), file);
    }
  });

  it("identity hash with preshift; preshift 64 sends everything to 0", () => {
    assert.deepEqual(shardAndMinishard(spec(1, 1, 1), 0b110n), { shard: 1n, minishard: 1 });
    assert.deepEqual(shardAndMinishard(spec(1, 1, 1), 0b1011n), { shard: 0n, minishard: 1 });
    assert.deepEqual(shardAndMinishard(spec(64, 0, 0), 2n ** 64n - 1n), {
      shard: 0n,
      minishard: 0,
    });
    assert.deepEqual(shardAndMinishard(spec(0, 0, 64), 2n ** 64n - 1n), {
      shard: 2n ** 64n - 1n,
      minishard: 0,
    });
    assert.throws(() => shardAndMinishard(spec(0, 0, 0), -1n), RangeError);
  });

  it("file names", () => {
    assert.equal(shardFileName(spec(0, 0, 0), 0), "0.shard");
    assert.equal(shardFileName(spec(0, 0, 1), 1n), "1.shard");
    assert.equal(shardFileName(spec(0, 0, 10), 96), "060.shard");
    assert.equal(shardFileName(spec(0, 0, 13), 0x1abcn), "1abc.shard");
    assert.equal(shardFileName(spec(0, 0, 64), 2n ** 64n - 1n), "ffffffffffffffff.shard");
    assert.throws(() => shardFileName(spec(0, 0, 1), 2), RangeError);
    assert.throws(() => shardFileName(spec(0, 0, 0), 1), RangeError);
  });

  it("shard index size", () => {
    assert.equal(shardIndexSize(spec(0, 0, 0)), 16);
    assert.equal(shardIndexSize(spec(0, 6, 0)), 1024);
  });
});

describe("shard regions (§4.5)", () => {
  it("TS example: grid (2,4,8), preshift 1, minishard 2, shard 3", () => {
    const grid = chunkGridShape([99, 98, 97], [50, 25, 13]);
    assert.deepEqual(grid, [2, 4, 8]);
    const s = spec(1, 2, 3);
    assert.deepEqual(minishardShapeInChunks(s, grid), [2, 1, 1]);
    assert.deepEqual(shardShapeInChunks(s, grid), [2, 2, 2]);
    assert.deepEqual(shardRegion(s, grid, 0), { start: [0, 0, 0], end: [2, 2, 2] });
    assert.deepEqual(shardRegion(s, grid, 1).start, [0, 2, 0]);
    assert.deepEqual(shardRegion(s, grid, 2).start, [0, 0, 2]);
    // size z = 90 -> grid z = 7: shards 6 and 7 hold 4 chunks each.
    const grid7 = chunkGridShape([99, 98, 90], [50, 25, 13]);
    assert.deepEqual(grid7, [2, 4, 7]);
    const count = (b: { start: number[]; end: number[] }) =>
      b.end.reduce((n, e, d) => n * Math.max(0, e - b.start[d]), 1);
    assert.deepEqual(shardRegion(s, grid7, 6), { start: [0, 0, 6], end: [2, 2, 7] });
    assert.equal(count(shardRegion(s, grid7, 6)), 4);
    assert.equal(count(shardRegion(s, grid7, 7)), 4);
    assert.equal(count(shardRegion(s, grid7, 5)), 8);
  });

  it("grid 4x4x4, preshift 3, minishard 0, shard 3", () => {
    const s = spec(3, 0, 3);
    const grid = [4, 4, 4];
    const want = [
      [0, 0, 0],
      [2, 0, 0],
      [0, 2, 0],
      [2, 2, 0],
      [0, 0, 2],
      [2, 0, 2],
      [0, 2, 2],
      [2, 2, 2],
    ];
    want.forEach((start, shard) => {
      assert.deepEqual(shardRegion(s, grid, shard), { start, end: start.map((v) => v + 2) });
    });
  });

  it("shard shapes of the CV table (§4.6)", () => {
    const rows: Array<[number[], number[], number, number, number, number[]]> = [
      [[1024, 1024, 512], [64, 64, 64], 11, 0, 0, [1024, 1024, 512]],
      [[20000, 20000, 5000], [128, 128, 64], 11, 0, 12, [2048, 2048, 512]],
      [[34432, 39552, 51508], [64, 64, 64], 11, 2, 17, [2048, 1024, 1024]],
      [[2048, 2048, 2048], [64, 64, 64], 10, 0, 5, [1024, 512, 512]],
      [[512, 512, 300], [128, 128, 16], 9, 0, 0, [512, 512, 512]],
    ];
    for (const [size, chunk, p, m, sb, shape] of rows) {
      const grid = chunkGridShape(size, chunk);
      const inChunks = shardShapeInChunks(spec(p, m, sb), grid);
      assert.deepEqual(
        inChunks.map((c, d) => c * chunk[d]),
        shape,
        `size [${size}]`,
      );
      assert.ok(shardsAreBoxes(spec(p, m, sb), grid));
    }
  });

  it("every chunk lies in the region of the shard its key maps to", () => {
    const grid = [5, 3, 7];
    for (const s of [spec(2, 1, 5), spec(0, 0, 8), spec(3, 2, 3), spec(9, 0, 0), spec(1, 0, 20)]) {
      const owners = new Map<string, bigint>();
      for (let shard = 0n; shard < 1n << BigInt(s.shard_bits) && shard < 256n; shard++) {
        const { start, end } = shardRegion(s, grid, shard);
        for (let z = start[2]; z < end[2]; z++)
          for (let y = start[1]; y < end[1]; y++)
            for (let x = start[0]; x < end[0]; x++) {
              const k = `${x},${y},${z}`;
              assert.ok(!owners.has(k), `cell ${k} in two shards`);
              owners.set(k, shard);
              const loc = shardAndMinishard(s, encodeCompressedMorton(grid, [x, y, z]));
              assert.equal(loc.shard, shard);
            }
      }
      assert.equal(owners.size, 5 * 3 * 7, JSON.stringify(s));
    }
  });

  it("refuses non-box layouts and non-identity hashes", () => {
    assert.equal(shardsAreBoxes(spec(1, 1, 1), [4, 4, 4]), false);
    assert.throws(
      () => shardRegion(spec(1, 1, 1), [4, 4, 4], 0),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
    const m = spec(0, 0, 6, "murmurhash3_x86_128");
    assert.throws(
      () => shardShapeInChunks(m, [4, 4, 4]),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
    assert.throws(() => shardRegion(spec(6, 0, 1), [4, 4, 4], 2), RangeError);
    // Shard bits beyond the Morton code give empty shards.
    const r = shardRegion(spec(6, 0, 2), [4, 4, 4], 1);
    assert.ok(r.end.some((e, d) => e <= r.start[d]));
  });
});

describe("chooseShardingSpec (§4.6, TS rule)", () => {
  const GiB = 2 ** 30;
  it("64^3 uint8 chunks, 2 GiB target -> 8192 chunks per shard", () => {
    // grid 538x618x805 (34432,39552,51508 / 64): 30 bits; W = 13.
    const s = chooseShardingSpec({ gridShape: [538, 618, 805], chunkBytes: 64 ** 3 });
    assert.deepEqual(s, { ...spec(9, 4, 17), data_encoding: "gzip" });
    assert.deepEqual(shardShapeInChunks(s, [538, 618, 805]), [32, 16, 16]);
  });

  it("caps W at the grid's bits: a small volume is one shard", () => {
    const s = chooseShardingSpec({ gridShape: [16, 16, 8], chunkBytes: 64 ** 3 });
    assert.deepEqual([s.preshift_bits, s.minishard_bits, s.shard_bits], [9, 2, 0]);
    assert.deepEqual(shardRegion(s, [16, 16, 8], 0), { start: [0, 0, 0], end: [16, 16, 8] });
  });

  it("rounds to the nearest power of two, ties up", () => {
    const grid = [1024, 1024, 1024];
    const w = (target: number) => {
      const s = chooseShardingSpec({ gridShape: grid, chunkBytes: 1, targetShardBytes: target });
      return s.preshift_bits + s.minishard_bits;
    };
    assert.deepEqual(
      [w(1), w(2), w(3), w(5), w(6), w(7), w(1000), w(1500), w(1600)],
      [0, 1, 2, 2, 3, 3, 10, 10, 11],
    );
    assert.equal(w(0.4 * GiB), 29);
  });

  it("jpeg/png data stays raw; options", () => {
    const s = chooseShardingSpec({
      gridShape: [157, 157, 79],
      chunkBytes: 128 * 128 * 64,
      targetShardBytes: GiB,
      maxChunksPerMinishard: 1000,
      encoding: "jpeg",
    });
    assert.deepEqual(s, { ...spec(9, 1, 13), data_encoding: "raw" });
    assert.equal(
      chooseShardingSpec({ gridShape: [4, 4, 4], chunkBytes: 1, encoding: "png" }).data_encoding,
      "raw",
    );
    assert.equal(
      chooseShardingSpec({
        gridShape: [4, 4, 4],
        chunkBytes: 1,
        encoding: "compressed_segmentation",
      }).data_encoding,
      "gzip",
    );
    const one = chooseShardingSpec({ gridShape: [4, 4, 4], chunkBytes: 4 * GiB });
    assert.deepEqual([one.preshift_bits, one.minishard_bits, one.shard_bits], [0, 0, 6]);
    assert.throws(
      () => chooseShardingSpec({ gridShape: [4, 4, 4], chunkBytes: 0 }),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });
});
