/**
 * One graph-build benchmark run in its own process (so peak RSS is this run's): generate a
 * synthetic dataset, build layer 2 then the parent layers into the chosen store, then time root
 * lookups through the HTTP read API. Prints one JSON line.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildL2Chunk, type GraphInput } from "../src/graph/build.js";
import { parseGraphConfig } from "../src/graph/config.js";
import { prepareGraphIngest } from "../src/graph/ingest.js";
import { emptyEdges } from "../src/graph/layer2.js";
import { buildParentChunk, checkIdSpace, chunksOfLayer } from "../src/graph/parents.js";
import { graphServer } from "../src/graph/serve.js";
import { type GraphStore, MemoryGraphStore } from "../src/graph/store.js";
import { LevelGraphStore } from "../src/graph/stores/level.js";
import { syntheticGraph } from "../src/graph/synthetic.js";
import { writeSyntheticDataset } from "../src/graph/synthetic-files.js";
import type { Vec3 } from "../src/ops/array.js";

const [storeKind, sx, sy, sz] = process.argv.slice(2);
const size = [Number(sx), Number(sy), Number(sz)] as Vec3;
const dir = await mkdtemp(join(tmpdir(), "vx-bench-graph-"));
try {
  const g = syntheticGraph({
    size,
    chunkSize: [64, 64, 64],
    svSize: 4,
    mergeProbability: 0.3,
    crossProbability: 0.02,
    seed: 1,
  });
  const input: GraphInput = {
    edges: async (c) =>
      g.edges.get(c.join("_")) ?? {
        inChunk: emptyEdges(),
        betweenChunk: emptyEdges(),
        crossChunk: emptyEdges(),
      },
    components: async (c) => g.components.get(c.join("_")) ?? new Map(),
  };
  const store: GraphStore =
    storeKind === "level" ? await LevelGraphStore.open(join(dir, "db")) : new MemoryGraphStore();
  checkIdSpace(g.layout);
  const t0 = performance.now();
  let edges = 0;
  let svs = 0;
  const l2 = chunksOfLayer(g.layout, 2);
  // Four chunks at a time, as `voxport graph ingest --workers 4` runs them.
  for (let i = 0; i < l2.length; i += 4) {
    const rs = await Promise.all(
      l2.slice(i, i + 4).map((c) => buildL2Chunk(g.layout, store, input, c)),
    );
    for (const r of rs) {
      edges += r.edges;
      svs += r.supervoxels;
    }
  }
  const t1 = performance.now();
  let parents = 0;
  for (let layer = 3; layer <= g.layout.layerCount; layer++) {
    const chunks = chunksOfLayer(g.layout, layer);
    for (let i = 0; i < chunks.length; i += 4) {
      const rs = await Promise.all(
        chunks.slice(i, i + 4).map((c) => buildParentChunk(g.layout, store, layer, c)),
      );
      for (const r of rs) {
        await store.writeNodes(r.rows);
        parents += r.children;
      }
    }
  }
  const t2 = performance.now();

  // Root lookups through HTTP, one at a time (latency, not throughput).
  const ds = await writeSyntheticDataset(
    syntheticGraph({
      size: [64, 64, 64],
      chunkSize: [64, 64, 64],
      svSize: 4,
      mergeProbability: 0,
      seed: 1,
    }),
    `file://${dir}/ws`,
  );
  void ds;
  const config = parseGraphConfig(
    {
      data_source: { EDGES: "x", COMPONENTS: "x", WATERSHED: `file://${dir}/ws/watershed` },
      graph_config: { CHUNK_SIZE: [64, 64, 64] },
    },
    "bench",
  );
  const prepared = await prepareGraphIngest("bench", config);
  const app = await graphServer({ store, job: { ...prepared.job, layout: g.layout } });
  const base = await app.listen({ port: 0, host: "127.0.0.1" });
  const lat: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const sv = g.supervoxels[(i * 7919) % g.supervoxels.length];
    const s = performance.now();
    const r = await fetch(`${base}/segmentation/api/v1/table/bench/node/${sv}/root?int64_as_str=1`);
    await r.json();
    lat.push(performance.now() - s);
  }
  await app.close();
  lat.sort((a, b) => a - b);
  await store.close();
  console.log(
    JSON.stringify({
      store: storeKind,
      layers: g.layout.layerCount,
      supervoxels: svs,
      edges,
      l2Seconds: (t1 - t0) / 1000,
      parentSeconds: (t2 - t1) / 1000,
      parentChildren: parents,
      rootP50: lat[Math.floor(lat.length * 0.5)],
      rootP99: lat[Math.floor(lat.length * 0.99)],
      peakRss: process.resourceUsage().maxRSS * 1024,
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
