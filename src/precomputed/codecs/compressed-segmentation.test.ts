import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../../errors.js";
import type { Block, Shape4, Vec3 } from "../../ops/array.js";
import { copyBox } from "../../ops/copy.js";
import type { ScaleInfo } from "../types.js";
import {
  decodeCompressedSegmentation,
  encodeCompressedSegmentation,
  encodeCompressedSegmentationRegion,
} from "./compressed-segmentation.js";
import { compressedSegmentationCodec } from "./compressed-segmentation-codec.js";

function u32Block(shape: Shape4, values: number[]): Block {
  return { dtype: "uint32", shape, data: Uint32Array.from(values) };
}
function u64Block(shape: Shape4, values: Array<number | bigint>): Block {
  return { dtype: "uint64", shape, data: BigUint64Array.from(values.map((v) => BigInt(v))) };
}
function words(bytes: Uint8Array): number[] {
  return [...new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)];
}

const V1_INPUT = [4, 3, 5, 4, 1, 3, 3, 3];

describe("compressed_segmentation vectors (§3.3)", () => {
  it("V1: uint32, V=[2,2,2], B=[2,2,1]", () => {
    const block = u32Block([2, 2, 2, 1], V1_INPUT);
    const enc = encodeCompressedSegmentation(block, [2, 2, 1]);
    assert.deepEqual(words(enc), [1, 0x02000005, 4, 0x01000009, 8, 0x61, 3, 4, 5, 0x0e, 1, 3]);
    assert.equal(
      Buffer.from(enc).toString("hex"),
      "0100000005000002040000000900000108000000610000000300000004000000050000000e0000000100000003000000",
    );
    assert.deepEqual(decodeCompressedSegmentation(enc, [2, 2, 2, 1], "uint32", [2, 2, 1]), block);
  });

  it("V2: the same input as uint64", () => {
    const block = u64Block([2, 2, 2, 1], V1_INPUT);
    const enc = encodeCompressedSegmentation(block, [2, 2, 1]);
    assert.deepEqual(
      words(enc),
      [1, 0x02000005, 4, 0x0100000c, 0x0b, 0x61, 3, 0, 4, 0, 5, 0, 0x0e, 1, 0, 3, 0],
    );
    assert.deepEqual(decodeCompressedSegmentation(enc, [2, 2, 2, 1], "uint64", [2, 2, 1]), block);
  });

  it("V3: uint64, 2 channels, B=[2,2,2]", () => {
    const block = u64Block([2, 2, 2, 2], [7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 1, 2, 2n ** 32n, 2, 2, 2]);
    const enc = encodeCompressedSegmentation(block, [2, 2, 2]);
    assert.deepEqual(words(enc), [2, 6, 2, 2, 7, 0, 0x02000003, 2, 0x5644, 1, 0, 2, 0, 0, 1]);
    assert.deepEqual(decodeCompressedSegmentation(enc, [2, 2, 2, 2], "uint64", [2, 2, 2]), block);
  });

  it("V4: uint32 partial block, V=[3,2,1], B=[2,2,1]", () => {
    const block = u32Block([3, 2, 1, 1], [10, 11, 12, 10, 11, 12]);
    const enc = encodeCompressedSegmentation(block, [2, 2, 1]);
    assert.deepEqual(words(enc), [1, 0x01000005, 4, 7, 7, 0x0a, 10, 11, 12]);
    assert.deepEqual(decodeCompressedSegmentation(enc, [3, 2, 1, 1], "uint32", [2, 2, 1]), block);
  });

  it("NG cached-table example: blocks 2 and 3 reuse tables", () => {
    const input = [4, 3, 5, 4, 1, 3, 3, 3, 3, 1, 1, 1, 5, 5, 3, 4];
    const block = u32Block([2, 2, 4, 1], input);
    const enc = encodeCompressedSegmentation(block, [2, 2, 1]);
    assert.deepEqual(words(enc).slice(1), [
      9 | (2 << 24),
      8,
      13 | (1 << 24),
      12,
      13 | (1 << 24),
      15,
      9 | (2 << 24),
      16,
      0x61,
      3,
      4,
      5,
      0x0e,
      1,
      3,
      0x01,
      0x4a,
    ]);
    assert.deepEqual(decodeCompressedSegmentation(enc, [2, 2, 4, 1], "uint32", [2, 2, 1]), block);
  });
});

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Blobby labels: `labels` values spread over a few random slabs, plus noise. */
function randomBlock(
  dtype: "uint32" | "uint64",
  shape: Shape4,
  labels: number,
  r: () => number,
): Block {
  const n = shape[0] * shape[1] * shape[2] * shape[3];
  const pool = Array.from({ length: labels }, () =>
    dtype === "uint32"
      ? Math.floor(r() * 2 ** 32)
      : BigInt(Math.floor(r() * 2 ** 32)) * (r() < 0.5 ? 1n : 2n ** 32n) +
        BigInt(Math.floor(r() * 2 ** 21)),
  );
  const data = dtype === "uint32" ? new Uint32Array(n) : new BigUint64Array(n);
  let current = 0;
  for (let i = 0; i < n; i++) {
    if (r() < 0.05) current = Math.floor(r() * labels);
    (data as unknown as Array<number | bigint>)[i] = pool[current];
  }
  return { dtype, shape, data };
}

describe("compressed_segmentation round trips", () => {
  it("random shapes, block sizes, channel counts and label counts", () => {
    const r = rng(12345);
    for (let trial = 0; trial < 150; trial++) {
      const dtype = trial % 2 === 0 ? "uint32" : "uint64";
      const shape: Shape4 = [
        1 + Math.floor(r() * 20),
        1 + Math.floor(r() * 20),
        1 + Math.floor(r() * 12),
        1 + Math.floor(r() * 3),
      ];
      const bs: Vec3 = [1 + Math.floor(r() * 9), 1 + Math.floor(r() * 9), 1 + Math.floor(r() * 9)];
      const labels = [1, 2, 3, 5, 17, 300, 5000][trial % 7];
      const block = randomBlock(dtype, shape, labels, r);
      const enc = encodeCompressedSegmentation(block, bs);
      assert.equal(enc.byteLength % 4, 0);
      const dec = decodeCompressedSegmentation(enc, shape, dtype, bs);
      assert.deepEqual(dec.data, block.data, `trial ${trial} shape [${shape}] block [${bs}]`);
    }
  });

  it("a region read in place encodes as the same region cut out", () => {
    const r = rng(777);
    for (let trial = 0; trial < 120; trial++) {
      const dtype = trial % 2 === 0 ? "uint32" : "uint64";
      const shape: Shape4 = [
        1 + Math.floor(r() * 30),
        1 + Math.floor(r() * 30),
        1 + Math.floor(r() * 12),
        1 + Math.floor(r() * 2),
      ];
      const bs: Vec3 = [1 + Math.floor(r() * 8), 1 + Math.floor(r() * 8), 1 + Math.floor(r() * 8)];
      const block = randomBlock(dtype, shape, [1, 3, 9, 17, 300][trial % 5], r);
      const origin = [0, 1, 2].map((d) => Math.floor(r() * shape[d])) as Vec3;
      const extent = [0, 1, 2].map((d) => 1 + Math.floor(r() * (shape[d] - origin[d]))) as Vec3;
      const cut: Block = {
        dtype,
        shape: [...extent, shape[3]],
        data:
          dtype === "uint32"
            ? new Uint32Array(extent[0] * extent[1] * extent[2] * shape[3])
            : new BigUint64Array(extent[0] * extent[1] * extent[2] * shape[3]),
      };
      const whole = { min: [0, 0, 0] as Vec3, max: [shape[0], shape[1], shape[2]] as Vec3 };
      const part = { min: origin, max: [0, 1, 2].map((d) => origin[d] + extent[d]) as Vec3 };
      copyBox(block, whole, cut, part);
      assert.deepEqual(
        encodeCompressedSegmentationRegion(block, origin, extent, bs),
        encodeCompressedSegmentation(cut, bs),
        `trial ${trial}: [${shape}] at [${origin}] extent [${extent}] block [${bs}]`,
      );
    }
    assert.throws(
      () =>
        encodeCompressedSegmentationRegion(
          u32Block([2, 2, 2, 1], V1_INPUT),
          [1, 0, 0],
          [2, 2, 2],
          [2, 2, 1],
        ),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /outside block/.test(e.message),
    );
  });

  it("the codec's encodeRegion (cut below 1 MiB, in place above) matches encode of the cut", async () => {
    const r = rng(4242);
    const scale = {
      key: "s",
      size: [1, 1, 1],
      resolution: [1, 1, 1],
      chunk_sizes: [[64, 64, 64]],
      encoding: "compressed_segmentation",
      compressed_segmentation_block_size: [8, 8, 8],
    } as unknown as ScaleInfo;
    for (const dtype of ["uint32", "uint64"] as const) {
      const shape: Shape4 = [80, 70, 40, 1];
      const block = randomBlock(dtype, shape, 40, r);
      const box = { min: [100, 200, 300] as Vec3, max: [180, 270, 340] as Vec3 };
      // 64×64×40: 640 KiB as uint32 (cut first), 1.25 MiB as uint64 (read in place); and an edge.
      const chunks = [
        { min: [100, 200, 300] as Vec3, max: [164, 264, 340] as Vec3 },
        { min: [164, 264, 300] as Vec3, max: [180, 270, 340] as Vec3 },
      ];
      for (const chunk of chunks) {
        const ext = [0, 1, 2].map((d) => chunk.max[d] - chunk.min[d]);
        const n = ext[0] * ext[1] * ext[2];
        const cut: Block = {
          dtype,
          shape: [ext[0], ext[1], ext[2], 1],
          data: dtype === "uint32" ? new Uint32Array(n) : new BigUint64Array(n),
        };
        copyBox(block, box, cut, chunk);
        assert.deepEqual(
          await compressedSegmentationCodec.encodeRegion?.(block, box, chunk, scale),
          await compressedSegmentationCodec.encode(cut, scale),
          `${dtype} ${JSON.stringify(chunk)}`,
        );
      }
    }
  });

  it("32-bit indices (more than 65536 distinct values in a block)", () => {
    const shape: Shape4 = [64, 64, 20, 1];
    const data = new Uint32Array(64 * 64 * 20).map((_, i) => (i * 2654435761) >>> 0);
    const block: Block = { dtype: "uint32", shape, data };
    const enc = encodeCompressedSegmentation(block, [64, 64, 20]);
    assert.equal(new Uint32Array(enc.buffer)[1] >>> 24, 32);
    assert.deepEqual(decodeCompressedSegmentation(enc, shape, "uint32", [64, 64, 20]).data, data);
  });

  it("lookup tables ascend as unsigned 64-bit values (small and large tables)", () => {
    // Values ordered by hi word, with lo words in the opposite order, and lo words >= 2^31.
    for (const n of [2, 9, 16, 17, 40]) {
      const values = Array.from(
        { length: n },
        (_, i) => (BigInt(n - i) << 32n) | BigInt((0x80000000 + 97 * i) >>> 0),
      );
      const data = Array.from({ length: 64 }, (_, k) => values[(k * 7) % n]);
      const enc = encodeCompressedSegmentation(u64Block([4, 4, 4, 1], data), [4, 4, 4]);
      const w = words(enc);
      const table = 1 + (w[1] & 0xffffff);
      const got = Array.from(
        { length: n },
        (_, i) => BigInt(w[table + 2 * i]) | (BigInt(w[table + 2 * i + 1]) << 32n),
      );
      assert.deepEqual(
        got,
        [...values].sort((a, b) => (a < b ? -1 : 1)),
        `${n} values`,
      );
      const dec = decodeCompressedSegmentation(enc, [4, 4, 4, 1], "uint64", [4, 4, 4]);
      assert.deepEqual([...(dec.data as BigUint64Array)], data);
    }
  });

  it("decodes from an unaligned buffer", () => {
    const block = u32Block([2, 2, 2, 1], V1_INPUT);
    const enc = encodeCompressedSegmentation(block, [2, 2, 1]);
    const shifted = new Uint8Array(enc.byteLength + 1);
    shifted.set(enc, 1);
    assert.deepEqual(
      decodeCompressedSegmentation(shifted.subarray(1), [2, 2, 2, 1], "uint32", [2, 2, 1]),
      block,
    );
  });

  it("measures speed (64^3 uint32 and uint64, ~50 labels, 8^3 blocks)", (t) => {
    for (const dtype of ["uint32", "uint64"] as const) {
      const shape: Shape4 = [64, 64, 64, 1];
      const block = randomSpatialLabels(dtype, 50);
      const mb = (64 ** 3 * (dtype === "uint32" ? 4 : 8)) / 2 ** 20;
      const enc = encodeCompressedSegmentation(block, [8, 8, 8]);
      const reps = 20;
      let t0 = performance.now();
      for (let i = 0; i < reps; i++) encodeCompressedSegmentation(block, [8, 8, 8]);
      const encMBs = (mb * reps) / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      for (let i = 0; i < reps; i++) decodeCompressedSegmentation(enc, shape, dtype, [8, 8, 8]);
      const decMBs = (mb * reps) / ((performance.now() - t0) / 1000);
      t.diagnostic(
        `${dtype}: encode ${encMBs.toFixed(0)} MB/s, decode ${decMBs.toFixed(0)} MB/s, ratio ${(enc.byteLength / (mb * 2 ** 20)).toFixed(3)}`,
      );
    }
  });
});

/** Segmentation-like volume: nearest of `labels` random seeds (Voronoi cells), 64^3. */
function randomSpatialLabels(dtype: "uint32" | "uint64", labels: number): Block {
  const r = rng(7);
  const seeds = Array.from({ length: labels }, () => [r() * 64, r() * 64, r() * 64]);
  const ids = Array.from({ length: labels }, () => Math.floor(r() * 2 ** 31) + 1);
  const n = 64 ** 3;
  const u32 = new Uint32Array(n);
  for (let z = 0, i = 0; z < 64; z++)
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++, i++) {
        let best = 0;
        let bestD = Number.POSITIVE_INFINITY;
        for (let k = 0; k < labels; k++) {
          const [a, b, c] = seeds[k];
          const d = (x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2;
          if (d < bestD) {
            bestD = d;
            best = k;
          }
        }
        u32[i] = ids[best];
      }
  if (dtype === "uint32") return { dtype, shape: [64, 64, 64, 1], data: u32 };
  const data = new BigUint64Array(n);
  for (let i = 0; i < n; i++) data[i] = BigInt(u32[i]) + 2n ** 40n;
  return { dtype, shape: [64, 64, 64, 1], data };
}

describe("compressed_segmentation errors", () => {
  const good = encodeCompressedSegmentation(u32Block([2, 2, 2, 1], V1_INPUT), [2, 2, 1]);
  const codec = (re: RegExp) => (e: unknown) => isVoxportError(e, "CODEC") && re.test(e.message);
  const dec = (w: number[], shape: Shape4 = [2, 2, 2, 1]) =>
    decodeCompressedSegmentation(
      new Uint8Array(Uint32Array.from(w).buffer),
      shape,
      "uint32",
      [2, 2, 1],
    );

  it("rejects malformed input", () => {
    assert.throws(
      () => decodeCompressedSegmentation(good.subarray(0, 7), [2, 2, 2, 1], "uint32", [2, 2, 1]),
      codec(/not a whole number of 32-bit words/),
    );
    const w = words(good);
    assert.throws(() => dec(w.slice(0, 3)), codec(/2 block headers do not fit in 3 words/));
    assert.throws(() => dec([50, ...w.slice(1)]), codec(/channel 0 offset 50 outside \[1, 12\)/));
    assert.throws(
      () => dec(w.slice(0, 8)),
      codec(/block \(0,0,0\): lookup table entry 2 at 6 past end 8/),
    );
    assert.throws(
      () => dec(w.slice(0, 9)),
      codec(/block \(0,0,1\): encoded values \[9, 10\) past end 9/),
    );
    assert.throws(
      () => dec(w.slice(0, 11)),
      codec(/block \(0,0,1\): lookup table entry 1 at 10 past end 11/),
    );
    const badBits = [...w];
    badBits[1] = (badBits[1] & 0xffffff) | (3 << 24);
    assert.throws(() => dec(badBits), codec(/encoded bits 3/));
    assert.throws(() => dec(w, [2, 2, 2, 2]), codec(/channel 0 offset 1 outside \[2, 12\)/));
    assert.throws(() => dec([]), codec(/cannot hold 1 channel offsets/));
  });

  it("rejects bad arguments", () => {
    assert.throws(
      () =>
        encodeCompressedSegmentation(
          { dtype: "uint16", shape: [1, 1, 1, 1], data: new Uint16Array(1) },
          [1, 1, 1],
        ),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
    assert.throws(
      () => encodeCompressedSegmentation(u32Block([2, 2, 2, 1], [1, 2, 3]), [2, 2, 1]),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    assert.throws(
      () => encodeCompressedSegmentation(u64Block([1, 1, 1, 1], [1]), [0, 1, 1]),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    assert.throws(
      () =>
        encodeCompressedSegmentation(
          { dtype: "uint64", shape: [1, 1, 1, 1], data: new Uint32Array(1) },
          [1, 1, 1],
        ),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });
});
