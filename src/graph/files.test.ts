import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Zstd } from "numcodecs";
import { MemoryKvStore } from "../storage/drivers/memory.js";
import {
  componentsKey,
  decodeComponentsFile,
  decodeEdgesFile,
  edgesKey,
  encodeComponentsFile,
  encodeEdgesFile,
  readChunkComponents,
  readChunkEdges,
} from "./files.js";

describe("graph input files", () => {
  it("components: the packed run-length list, byte for byte", () => {
    // field 1, wire type 2 (packed), 5 bytes: n=2, 5, 7, n=1, 300 (varint ac 02)
    const bytes = Uint8Array.from([0x0a, 0x06, 0x02, 0x05, 0x07, 0x01, 0xac, 0x02]);
    const map = decodeComponentsFile(bytes, "c.proto");
    assert.deepEqual(
      [...map],
      [
        [5n, 0],
        [7n, 0],
        [300n, 1],
      ],
    );
    assert.deepEqual(encodeComponentsFile(map), bytes);
    const big = new Map([
      [0xffff_ffff_ffff_fff0n, 0],
      [0x0100_0000_0000_0001n, 1],
    ]);
    assert.deepEqual(decodeComponentsFile(encodeComponentsFile(big), "x"), big);
    assert.throws(
      () => decodeComponentsFile(Uint8Array.from([0x0a, 0x02, 0x05, 0x07]), "bad.proto"),
      /bad.proto: component 0 claims 5 members/,
    );
  });

  it("edges: round trip through zstd + protobuf, with empty affinities allowed", async () => {
    const edges = {
      inChunk: {
        ids1: BigUint64Array.of(1n, 2n),
        ids2: BigUint64Array.of(2n, 3n),
        affinities: Float32Array.of(0.5, 0.25),
        areas: BigUint64Array.of(10n, 20n),
      },
      betweenChunk: { ids1: BigUint64Array.of(2n ** 63n + 5n), ids2: BigUint64Array.of(9n) },
      crossChunk: { ids1: new BigUint64Array(0), ids2: new BigUint64Array(0) },
    };
    const file = await encodeEdgesFile(edges);
    assert.deepEqual([...file.slice(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    const back = await decodeEdgesFile(file, "e.proto.zst");
    assert.deepEqual(back.inChunk, edges.inChunk);
    assert.deepEqual(back.betweenChunk.ids1, edges.betweenChunk.ids1);
    assert.deepEqual(back.betweenChunk.ids2, edges.betweenChunk.ids2);
    assert.equal(back.betweenChunk.affinities, undefined);
    assert.equal(back.crossChunk.ids1.length, 0);
    await assert.rejects(
      decodeEdgesFile(Uint8Array.of(1, 2, 3), "junk.zst"),
      /junk.zst: not zstd data/,
    );
    const mismatched = await new Zstd(3).encode(
      Uint8Array.from([0x0a, 0x0a, 0x0a, 0x08, 1, 0, 0, 0, 0, 0, 0, 0]),
    );
    await assert.rejects(
      decodeEdgesFile(mismatched, "m.zst"),
      /m.zst in_chunk: 1 node_ids1 vs 0 node_ids2/,
    );
  });

  it("reads through a store; missing files mean no edges", async () => {
    const store = new MemoryKvStore("mem://graph-files-test");
    assert.equal((await readChunkEdges(store, [0, 0, 0])).inChunk.ids1.length, 0);
    assert.equal((await readChunkComponents(store, [0, 0, 0])).size, 0);
    await store.put(componentsKey([1, 2, 3]), encodeComponentsFile(new Map([[4n, 0]])));
    assert.equal(componentsKey([1, 2, 3]), "components_1_2_3.proto");
    assert.equal(edgesKey([1, 2, 3]), "edges_1_2_3.proto.zst");
    assert.deepEqual([...(await readChunkComponents(store, [1, 2, 3]))], [[4n, 0]]);
  });
});
