import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import {
  chunkBox,
  chunkCellsInBox,
  chunkGridShape,
  chunkKey,
  chunkMisalignment,
  expandToChunks,
  isChunkAligned,
  resolveScalePath,
  scaleBounds,
} from "./grid.js";
import type { ScaleInfo } from "./types.js";

function scale(size: Vec3, offset: Vec3 | undefined, chunk: Vec3, key = "8_8_40"): ScaleInfo {
  return {
    key,
    size,
    voxel_offset: offset,
    resolution: [8, 8, 40],
    chunk_sizes: [chunk],
    encoding: "raw",
  };
}

/** §2.2 example. */
const s22 = scale([100, 70, 5], [10, 20, 3], [64, 64, 64]);

describe("chunk grid", () => {
  it("reproduces the §2.2 table exactly", () => {
    assert.deepEqual(chunkGridShape(s22), [2, 2, 1]);
    assert.deepEqual(scaleBounds(s22), { min: [10, 20, 3], max: [110, 90, 8] });
    const table: [Vec3, string, Vec3, number][] = [
      [[0, 0, 0], "10-74_20-84_3-8", [64, 64, 5], 20480],
      [[1, 0, 0], "74-110_20-84_3-8", [36, 64, 5], 11520],
      [[0, 1, 0], "10-74_84-90_3-8", [64, 6, 5], 1920],
      [[1, 1, 0], "74-110_84-90_3-8", [36, 6, 5], 1080],
    ];
    for (const [g, name, shape, rawBytes] of table) {
      const b = chunkBox(s22, g);
      assert.equal(chunkKey(s22, b), `8_8_40/${name}`);
      const got = [0, 1, 2].map((d) => b.max[d] - b.min[d]);
      assert.deepEqual(got, shape);
      assert.equal(got[0] * got[1] * got[2] * 1 /* uint8, 1 channel */, rawBytes);
    }
    const all = [...chunkCellsInBox(s22, scaleBounds(s22))];
    assert.deepEqual(all, [
      [0, 0, 0],
      [1, 0, 0],
      [0, 1, 0],
      [1, 1, 0],
    ]);
  });

  it("writes negative coordinates with their minus sign", () => {
    const a = scale([128, 64, 64], [-64, 0, 0], [64, 64, 64]);
    assert.equal(chunkKey(a, chunkBox(a, [0, 0, 0])), "8_8_40/-64-0_0-64_0-64");
    assert.equal(chunkKey(a, chunkBox(a, [1, 0, 0])), "8_8_40/0-64_0-64_0-64");
    const b = scale([64, 10, 70], [-65, -5, -100], [64, 64, 64]);
    assert.equal(chunkKey(b, chunkBox(b, [0, 0, 0])), "8_8_40/-65--1_-5-5_-100--36");
    assert.equal(chunkKey(b, chunkBox(b, [0, 0, 1])), "8_8_40/-65--1_-5-5_-36--30");
  });

  it("treats an omitted voxel_offset as zero", () => {
    const s = scale([10, 10, 10], undefined, [4, 4, 4]);
    assert.equal(chunkKey(s, chunkBox(s, [2, 0, 1])), "8_8_40/8-10_0-4_4-8");
  });

  it("rejects cells outside the grid", () => {
    assert.throws(
      () => chunkBox(s22, [2, 0, 0]),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    assert.throws(
      () => chunkBox(s22, [0, -1, 0]),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });

  it("lists the cells a box touches, ignoring parts outside the volume", () => {
    const cells = (min: Vec3, max: Vec3) => [...chunkCellsInBox(s22, { min, max })];
    assert.deepEqual(cells([73, 83, 0], [75, 85, 100]), [
      [0, 0, 0],
      [1, 0, 0],
      [0, 1, 0],
      [1, 1, 0],
    ]);
    assert.deepEqual(cells([74, 20, 3], [200, 84, 8]), [[1, 0, 0]]);
    assert.deepEqual(cells([-100, -100, -100], [10, 20, 3]), []);
    assert.deepEqual(cells([110, 20, 3], [200, 90, 8]), []);
    assert.deepEqual(cells([20, 30, 4], [20, 40, 5]), []); // empty box
    assert.deepEqual(cells([0, 0, 0], [1000, 1000, 1000]).length, 4);
  });

  it("checks chunk alignment and names the axis", () => {
    assert.ok(isChunkAligned(s22, scaleBounds(s22)));
    assert.ok(isChunkAligned(s22, { min: [74, 20, 3], max: [110, 84, 8] }));
    assert.ok(isChunkAligned(s22, { min: [10, 84, 3], max: [74, 90, 8] }));
    assert.match(
      chunkMisalignment(s22, { min: [11, 20, 3], max: [74, 84, 8] }) ?? "",
      /axis x: min 11/,
    );
    assert.match(
      chunkMisalignment(s22, { min: [10, 20, 3], max: [74, 80, 8] }) ?? "",
      /axis y: max 80/,
    );
    assert.match(
      chunkMisalignment(s22, { min: [10, 20, 3], max: [74, 84, 9] }) ?? "",
      /axis z: .*outside/,
    );
    assert.match(
      chunkMisalignment(s22, { min: [10, 20, 3], max: [10, 84, 8] }) ?? "",
      /axis x: empty/,
    );
    assert.ok(!isChunkAligned(s22, { min: [-54, 20, 3], max: [10, 84, 8] }));
  });

  it("expands a box to whole chunks, clipped to the volume", () => {
    assert.deepEqual(expandToChunks(s22, { min: [73, 85, 4], max: [75, 86, 5] }), {
      min: [10, 84, 3],
      max: [110, 90, 8],
    });
    assert.deepEqual(expandToChunks(s22, { min: [0, 0, 0], max: [11, 21, 4] }), {
      min: [10, 20, 3],
      max: [74, 84, 8],
    });
  });

  it("resolves '.' and '..' in scale keys", () => {
    assert.equal(resolveScalePath("a/../b/./c", "0-1_0-1_0-1"), "b/c/0-1_0-1_0-1");
    assert.equal(resolveScalePath("s0/", "n"), "s0/n");
    assert.throws(
      () => resolveScalePath("../other", "n"),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
  });
});
