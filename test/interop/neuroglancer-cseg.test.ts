import assert from "node:assert/strict";
import { test } from "node:test";
// Neuroglancer's own decoder, from the npm package the viewer is built from: an independent
// implementation of the format (precomputed-format.md §3.3).
import { decodeChannels as ngDecode32 } from "neuroglancer/unstable/sliceview/compressed_segmentation/decode_uint32.js";
import { decodeChannels as ngDecode64 } from "neuroglancer/unstable/sliceview/compressed_segmentation/decode_uint64.js";
import { makeBlock, type Shape4, type Vec3 } from "../../src/ops/array.js";
import { encodeCompressedSegmentation } from "../../src/precomputed/codecs/compressed-segmentation.js";

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const shapes: Array<{ shape: Shape4; block: Vec3; labels: number }> = [
  { shape: [64, 64, 64, 1], block: [8, 8, 8], labels: 40 },
  { shape: [37, 23, 11, 1], block: [8, 8, 8], labels: 300 }, // partial blocks on every axis
  { shape: [16, 16, 16, 3], block: [4, 4, 2], labels: 5 }, // several channels
  { shape: [9, 7, 5, 2], block: [2, 3, 4], labels: 70000 }, // 32-bit indices, odd block size
  { shape: [8, 8, 8, 1], block: [8, 8, 8], labels: 1 }, // a single value: 0 bits
];

for (const dtype of ["uint32", "uint64"] as const) {
  for (const { shape, block, labels } of shapes) {
    test(`voxport cseg ${dtype} ${shape.join("×")} block ${block.join("×")} decodes exactly with Neuroglancer's decoder`, () => {
      const rand = rng(shape[0] * 131 + labels);
      const b = makeBlock(dtype, shape);
      // Smooth-ish labels with runs (like a segmentation) plus random ones (to force big tables).
      for (let i = 0; i < b.data.length; i++) {
        const v = rand() < 0.7 ? Math.floor(i / 97) % labels : Math.floor(rand() * labels);
        if (dtype === "uint64") (b.data as BigUint64Array)[i] = (BigInt(v) << 33n) | BigInt(v);
        else (b.data as Uint32Array)[i] = v;
      }
      const bytes = encodeCompressedSegmentation(b, block);
      assert.equal(bytes.byteLength % 4, 0);
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const out =
        dtype === "uint32" ? new Uint32Array(b.data.length) : new BigUint64Array(b.data.length);
      (dtype === "uint32" ? ngDecode32 : ngDecode64)(out as never, words, 0, shape, block);
      for (let i = 0; i < out.length; i++) {
        if (out[i] !== b.data[i])
          assert.fail(`voxel ${i}: Neuroglancer decoded ${out[i]}, we wrote ${b.data[i]}`);
      }
    });
  }
}
