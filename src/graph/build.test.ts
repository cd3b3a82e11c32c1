import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkAgainstTruth, inputOf } from "../../test/conformance/graph-store.js";
import type { Vec3 } from "../ops/array.js";
import { buildInProcess } from "./build.js";
import { leavesOf, rootsOf } from "./read.js";
import { MemoryGraphStore } from "./store.js";
import { syntheticGraph } from "./synthetic.js";

describe("chunked graph build", () => {
  const cases: { name: string; size: Vec3; chunk: Vec3; sv: number; p: number; cross?: number }[] =
    [
      { name: "one chunk", size: [16, 16, 16], chunk: [16, 16, 16], sv: 4, p: 0.4 },
      {
        name: "non-cubic 5×3×2 chunks",
        size: [40, 24, 16],
        chunk: [8, 8, 8],
        sv: 4,
        p: 0.35,
        cross: 0.1,
      },
      {
        name: "7×5×3 chunks, sparse merges",
        size: [56, 40, 24],
        chunk: [8, 8, 8],
        sv: 4,
        p: 0.2,
        cross: 0.05,
      },
      { name: "9×2×2 chunks, dense merges", size: [72, 16, 16], chunk: [8, 8, 8], sv: 2, p: 0.6 },
    ];
  for (const tc of cases) {
    it(`roots are the agglomeration's components: ${tc.name}`, async () => {
      const g = syntheticGraph({
        size: tc.size,
        chunkSize: tc.chunk,
        svSize: tc.sv,
        mergeProbability: tc.p,
        crossProbability: tc.cross,
        seed: 7,
      });
      assert.ok(
        g.objects.length > 1 && g.objects.some((o) => o.length > 1),
        "a non-trivial dataset",
      );
      const store = new MemoryGraphStore();
      const counts = await buildInProcess(g.layout, store, inputOf(g));
      assert.equal(counts.supervoxels, g.supervoxels.length);
      await checkAgainstTruth(g, store);
    });
  }

  it("a second build writes the same rows (ids are deterministic)", async () => {
    const g = syntheticGraph({
      size: [40, 24, 16],
      chunkSize: [8, 8, 8],
      svSize: 4,
      mergeProbability: 0.3,
      seed: 3,
    });
    const a = new MemoryGraphStore();
    const b = new MemoryGraphStore();
    await buildInProcess(g.layout, a, inputOf(g));
    await buildInProcess(g.layout, b, inputOf(g));
    await buildInProcess(g.layout, b, inputOf(g));
    const nodesA = a.allNodes().sort();
    assert.deepEqual(b.allNodes().sort(), nodesA);
    assert.deepEqual(await b.children(nodesA), await a.children(nodesA));
    assert.deepEqual(await b.parents(g.supervoxels), await a.parents(g.supervoxels));
  });

  it("leaves within bounds prune chunks outside the box", async () => {
    const g = syntheticGraph({
      size: [32, 8, 8],
      chunkSize: [8, 8, 8],
      svSize: 4,
      mergeProbability: 1,
      seed: 1,
    });
    assert.equal(g.objects.length, 1);
    const store = new MemoryGraphStore();
    await buildInProcess(g.layout, store, inputOf(g));
    const [root] = await rootsOf(store, [g.supervoxels[0]]);
    const all = await leavesOf(g.layout, store, root);
    assert.equal(all.length, g.supervoxels.length);
    const box = await leavesOf(g.layout, store, root, { lo: [1, 0, 0], hi: [2, 1, 1] });
    assert.deepEqual(
      box,
      all.filter((sv) => g.svAt(2, 0, 0) <= sv && sv <= g.svAt(3, 1, 1)),
    );
    assert.equal(box.length, 8);
  });
});
