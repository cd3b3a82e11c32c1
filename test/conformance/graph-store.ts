/**
 * One conformance suite for every GraphStore backend (memory, LevelDB, Bigtable): field
 * upserts, missing rows, chunk range scans at the edges of the id space, meta, and a whole
 * synthetic build checked against union-find truth.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { buildInProcess, type GraphInput } from "../../src/graph/build.js";
import {
  chunkId,
  type GraphLayout,
  gridAt,
  layerOf,
  makeLayout,
  nodeId,
  segmentBits,
} from "../../src/graph/ids.js";
import { emptyEdges } from "../../src/graph/layer2.js";
import { chunksOfLayer } from "../../src/graph/parents.js";
import { childInParentChunk, leavesOf, rootsOf } from "../../src/graph/read.js";
import type { GraphStore } from "../../src/graph/store.js";
import { type SyntheticGraph, syntheticGraph } from "../../src/graph/synthetic.js";
import type { Vec3 } from "../../src/ops/array.js";

export function inputOf(g: SyntheticGraph): GraphInput {
  return {
    edges: async (c: Vec3) =>
      g.edges.get(c.join("_")) ?? {
        inChunk: emptyEdges(),
        betweenChunk: emptyEdges(),
        crossChunk: emptyEdges(),
      },
    components: async (c: Vec3) => g.components.get(c.join("_")) ?? new Map(),
  };
}

export async function allNodes(layout: GraphLayout, store: GraphStore): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let layer = 2; layer <= layout.layerCount; layer++) {
    for (const c of chunksOfLayer(layout, layer)) {
      out.push(
        ...(await store.nodesInChunk(chunkId(layout, layer, c), segmentBits(layout, layer))),
      );
    }
  }
  return out;
}

/**
 * The ground truth, computed here and not by the code under test: a plain union-find over the
 * agglomeration's merged pairs, objects as sorted supervoxel lists ordered by first member.
 */
export function truthObjects(g: SyntheticGraph): bigint[][] {
  const up = new Map<bigint, bigint>();
  const find = (x: bigint): bigint => {
    let r = x;
    while (up.get(r) !== r) r = up.get(r) as bigint;
    while (x !== r) {
      const next = up.get(x) as bigint;
      up.set(x, r);
      x = next;
    }
    return r;
  };
  for (const sv of g.supervoxels) up.set(sv, sv);
  for (const [a, b] of g.merged) {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) up.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
  }
  const groups = new Map<bigint, bigint[]>();
  for (const sv of g.supervoxels) {
    const r = find(sv);
    const list = groups.get(r) ?? [];
    list.push(sv);
    groups.set(r, list);
  }
  const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
  return [...groups.values()].map((l) => l.sort(cmp)).sort((a, b) => cmp(a[0], b[0]));
}

/** Roots ⇔ objects, leaves(root) = object, children inside their parent's chunk. */
export async function checkAgainstTruth(g: SyntheticGraph, store: GraphStore): Promise<void> {
  const top = g.layout.layerCount;
  const objects = truthObjects(g);
  assert.ok(objects.length > 1 && objects.some((o) => o.length > 1), "a non-trivial dataset");
  const roots = await rootsOf(store, g.supervoxels);
  const rootOf = new Map<bigint, bigint>();
  g.supervoxels.forEach((sv, i) => {
    rootOf.set(sv, roots[i]);
  });
  for (const r of roots)
    assert.equal(layerOf(r), top, `root ${r} is at layer ${layerOf(r)}, not ${top}`);
  const seen = new Map<bigint, number>();
  objects.forEach((members, i) => {
    const r = rootOf.get(members[0]) as bigint;
    for (const sv of members) assert.equal(rootOf.get(sv), r, `object ${i}: supervoxel ${sv}`);
    assert.equal(seen.get(r), undefined, `objects ${seen.get(r)} and ${i} share root ${r}`);
    seen.set(r, i);
  });
  for (const members of objects) {
    assert.deepEqual(await leavesOf(g.layout, store, rootOf.get(members[0]) as bigint), members);
  }
  const nodes = await allNodes(g.layout, store);
  const kids = await store.children(nodes);
  nodes.forEach((id, i) => {
    for (const k of kids[i] ?? [])
      assert.ok(childInParentChunk(g.layout, id, k), `child ${k} of ${id}`);
  });
}

/** Every node's children and every supervoxel's parent, for comparing two builds id by id. */
export async function snapshot(g: SyntheticGraph, store: GraphStore): Promise<string[]> {
  const nodes = await allNodes(g.layout, store);
  const kids = await store.children(nodes);
  const parents = await store.parents([...g.supervoxels, ...nodes]);
  return [
    ...nodes.map((n, i) => `${n}: ${[...(kids[i] ?? [])].join(",")}`),
    ...[...g.supervoxels, ...nodes].map((n, i) => `${n} ↑ ${parents[i]}`),
  ].sort();
}

export function graphStoreConformance(open: () => Promise<GraphStore>): void {
  const layout = makeLayout({ voxelSize: [512, 512, 512], chunkSize: [64, 64, 64] });

  it("upserts fields independently and reports missing rows as undefined", async () => {
    const store = await open();
    try {
      const sv = nodeId(layout, 1, [1, 2, 3], 5n);
      const l2 = nodeId(layout, 2, [1, 2, 3], 1n);
      await store.writeNodes([{ id: sv, parent: l2 }]);
      await store.writeNodes([
        {
          id: l2,
          children: BigUint64Array.of(sv),
          crossEdges: new Map([[3, BigUint64Array.of(sv, 2n ** 64n - 1n)]]),
        },
      ]);
      await store.writeNodes([{ id: l2, parent: nodeId(layout, 3, [0, 1, 1], 9n) }]);
      assert.deepEqual(await store.parents([sv, l2, 42n]), [
        l2,
        nodeId(layout, 3, [0, 1, 1], 9n),
        undefined,
      ]);
      assert.deepEqual(await store.children([l2, sv]), [BigUint64Array.of(sv), undefined]);
      const [cross, none] = await store.crossEdges([l2, sv]);
      assert.deepEqual(cross, new Map([[3, BigUint64Array.of(sv, 2n ** 64n - 1n)]]));
      assert.equal(none, undefined);
      assert.deepEqual(await store.parents([]), []);
    } finally {
      await store.close();
    }
  });

  it("scans exactly the nodes of one chunk, in id order, at any layer", async () => {
    const store = await open();
    try {
      const rows = [];
      for (const layer of [2, 3, layout.layerCount]) {
        const g = gridAt(layout, layer);
        const last: Vec3 = [g[0] - 1, g[1] - 1, g[2] - 1];
        for (const c of [[0, 0, 0] as Vec3, last]) {
          const limit = (1n << BigInt(segmentBits(layout, layer))) - 1n;
          for (const seg of [1n, 2n, limit])
            rows.push({ id: nodeId(layout, layer, c, seg), children: BigUint64Array.of(1n) });
        }
      }
      await store.writeNodes(rows.reverse());
      for (const layer of [2, 3, layout.layerCount]) {
        const g = gridAt(layout, layer);
        const last: Vec3 = [g[0] - 1, g[1] - 1, g[2] - 1];
        const limit = (1n << BigInt(segmentBits(layout, layer))) - 1n;
        for (const c of [[0, 0, 0] as Vec3, last]) {
          const got = await store.nodesInChunk(
            chunkId(layout, layer, c),
            segmentBits(layout, layer),
          );
          assert.deepEqual(
            got,
            [1n, 2n, limit].map((s) => nodeId(layout, layer, c, s)),
            `layer ${layer} chunk ${c}`,
          );
        }
      }
      assert.deepEqual(
        await store.nodesInChunk(chunkId(layout, 2, [3, 3, 3]), segmentBits(layout, 2)),
        [],
      );
    } finally {
      await store.close();
    }
  });

  it("keeps meta values", async () => {
    const store = await open();
    try {
      assert.equal(await store.getMeta("layout"), undefined);
      await store.setMeta("layout", '{"layers":5}');
      await store.setMeta("layout", '{"layers":6}');
      assert.equal(await store.getMeta("layout"), '{"layers":6}');
    } finally {
      await store.close();
    }
  });

  it("builds a synthetic graph whose roots are the agglomeration's components", async () => {
    const store = await open();
    try {
      const g = syntheticGraph({
        size: [40, 24, 16],
        chunkSize: [8, 8, 8],
        svSize: 4,
        mergeProbability: 0.35,
        crossProbability: 0.1,
        seed: 11,
      });
      await buildInProcess(g.layout, store, inputOf(g));
      await checkAgainstTruth(g, store);
    } finally {
      await store.close();
    }
  });
}
