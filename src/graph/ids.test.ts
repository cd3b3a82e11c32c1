import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ancestorChunk,
  bitsPerAxisFor,
  childChunks,
  chunkId,
  chunkOf,
  coordsOf,
  crossEdgeLayer,
  gridAt,
  layerCountFor,
  layerOf,
  makeLayout,
  nodeId,
  rowKey,
  segmentBits,
  segmentOf,
} from "./ids.js";

describe("graph ids", () => {
  it("decodes real FlyWire and MICrONS minnie65 root ids to their documented layers", () => {
    assert.equal(layerOf(720575940621039145n), 10);
    assert.equal(layerOf(864691135639556411n), 12);
  });

  it("bits per axis per layer follow compute_bitmasks", () => {
    assert.deepEqual(bitsPerAxisFor(5, 10).slice(1), [10, 10, 2, 1, 1]);
    assert.deepEqual(bitsPerAxisFor(10, 10).slice(1), [10, 10, 7, 6, 5, 4, 3, 2, 1, 1]);
    assert.equal(bitsPerAxisFor(12, 10)[3], 9);
    assert.throws(
      () => bitsPerAxisFor(12, 8),
      /SPATIAL_BITS: 8 bits per axis cannot address 12 layers/,
    );
  });

  it("layer count from bounds, chunk size and fanout", () => {
    const layout = makeLayout({ voxelSize: [4096, 4096, 1024], chunkSize: [512, 512, 128] });
    assert.equal(layout.layerCount, 5);
    assert.deepEqual(layout.l2Grid, [8, 8, 8]);
    assert.equal(layerCountFor([1, 1, 1]), 2);
    assert.equal(layerCountFor([5, 3, 2]), 5);
    assert.deepEqual(
      gridAt(makeLayout({ voxelSize: [500, 300, 200], chunkSize: [100, 100, 100] }), 3),
      [3, 2, 1],
    );
    assert.equal(segmentBits(layout, 2), 26);
    assert.equal(
      segmentBits(makeLayout({ voxelSize: [2 ** 17, 64, 64], chunkSize: [256, 64, 64] }), 11),
      53,
    );
  });

  it("encodes the documented worked example and round-trips coordinates", () => {
    const layout = makeLayout({ voxelSize: [4096, 4096, 1024], chunkSize: [512, 512, 128] });
    const id = nodeId(layout, 2, [3, 1, 2], 7n);
    assert.equal(id, 0x200c01008000007n);
    assert.deepEqual(coordsOf(layout, id), [3, 1, 2]);
    assert.equal(chunkOf(layout, id), chunkId(layout, 2, [3, 1, 2]));
    assert.equal(segmentOf(layout, id), 7n);
    assert.equal(layerOf(nodeId(layout, 1, [3, 1, 2], 7n)), 1);
    assert.throws(() => chunkId(layout, 3, [4, 0, 0]), /does not fit 2 bits/);
    assert.throws(() => nodeId(layout, 2, [0, 0, 0], 0n), /segment id 0/);
  });

  it("maps parent and child chunks, clipped to the grid", () => {
    const layout = makeLayout({ voxelSize: [500, 300, 200], chunkSize: [100, 100, 100] });
    assert.equal(layout.layerCount, 5);
    assert.deepEqual(ancestorChunk(layout, [4, 2, 1], 2, 3), [2, 1, 0]);
    assert.deepEqual(ancestorChunk(layout, [4, 2, 1], 2, 4), [1, 0, 0]);
    assert.deepEqual(ancestorChunk(layout, [4, 2, 1], 2, 5), [0, 0, 0]);
    assert.deepEqual(childChunks(layout, 3, [2, 1, 0]), [
      [4, 2, 0],
      [4, 2, 1],
    ]);
    assert.equal(childChunks(layout, 3, [0, 0, 0]).length, 8);
    assert.deepEqual(childChunks(layout, 5, [0, 0, 0]), [
      [0, 0, 0],
      [1, 0, 0],
    ]);
    // every L2 chunk has exactly one ancestor chain up to the root
    let total = 0;
    for (const c of childChunks(layout, 4, [0, 0, 0])) total += childChunks(layout, 3, c).length;
    for (const c of childChunks(layout, 4, [1, 0, 0])) total += childChunks(layout, 3, c).length;
    assert.equal(total, 5 * 3 * 2);
  });

  it("cross-edge layer: 1 within a chunk, k when chunks first coincide at k + 1", () => {
    const layout = makeLayout({ voxelSize: [800, 800, 800], chunkSize: [100, 100, 100] });
    assert.equal(crossEdgeLayer(layout, [0, 0, 0], [0, 0, 0]), 1);
    assert.equal(crossEdgeLayer(layout, [0, 0, 0], [1, 0, 0]), 2);
    assert.equal(crossEdgeLayer(layout, [1, 0, 0], [2, 0, 0]), 3);
    assert.equal(crossEdgeLayer(layout, [3, 0, 0], [4, 0, 0]), 4);
  });

  it("row keys sort like the ids", () => {
    const ids = [5n, 0x200c01008000007n, 720575940621039145n, 2n ** 64n - 1n];
    const keys = ids.map(rowKey);
    assert.deepEqual([...keys].sort(), keys);
    assert.equal(keys[0], "00000000000000000005");
  });
});
