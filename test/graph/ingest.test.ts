import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { parseGraphConfig } from "../../src/graph/config.js";
import { layerOf } from "../../src/graph/ids.js";
import { enqueueGraph, prepareGraphIngest } from "../../src/graph/ingest.js";
import { rootsOf } from "../../src/graph/read.js";
import { openGraphStore } from "../../src/graph/stores/open.js";
import { syntheticGraph } from "../../src/graph/synthetic.js";
import { writeSyntheticDataset } from "../../src/graph/synthetic-files.js";
import { GraphRunner, graphMessage } from "../../src/graph/tasks.js";
import { openQueue } from "../../src/queue/open.js";
import { isDrained, type Queue } from "../../src/queue/queue.js";
import { checkAgainstTruth } from "../conformance/graph-store.js";

/** A minimal worker: lease, run, complete with the parent links (the tracker does the rest). */
async function drain(queue: Queue, runner: GraphRunner): Promise<Map<number, number>> {
  const perLayer = new Map<number, number>();
  for (;;) {
    const leases = await queue.lease(4, 60_000);
    if (leases.length === 0) {
      if (isDrained(await queue.stats())) return perLayer;
      continue;
    }
    await Promise.all(
      leases.map(async (lease) => {
        const msg = graphMessage.parse(JSON.parse(lease.body));
        const r = await runner.run(msg);
        const done = await queue.complete(lease, { parents: r.parents });
        assert.ok(done.ok);
        perLayer.set(msg.layer, (perLayer.get(msg.layer) ?? 0) + 1);
      }),
    );
  }
}

describe("graph ingest on a queue", () => {
  it("builds from edge, component and watershed files; the tracker enqueues every parent once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-ingest-"));
    const g = syntheticGraph({
      size: [48, 40, 16],
      chunkSize: [8, 8, 8],
      svSize: 4,
      mergeProbability: 0.3,
      crossProbability: 0.05,
      seed: 5,
    });
    const ds = await writeSyntheticDataset(g, `file://${dir}/data`);
    const config = parseGraphConfig(
      {
        ...parse(ds.config),
        backend_client: { TYPE: "embedded", CONFIG: { PATH: `${dir}/graphs` } },
      },
      "dataset.yml",
    );
    const prepared = await prepareGraphIngest("fly", config);
    assert.equal(prepared.job.layout.layerCount, g.layout.layerCount);
    assert.equal(prepared.storeUrl, `level://${dir}/graphs/fly`);
    const queue = await openQueue("mem://graph-ingest-1");
    assert.equal(await enqueueGraph(prepared, queue), 6 * 5 * 2);
    assert.equal(await enqueueGraph(prepared, queue), 0, "a rerun adds nothing");
    const runner = new GraphRunner();
    const perLayer = await drain(queue, runner);
    for (let layer = 2; layer <= g.layout.layerCount; layer++) {
      assert.equal(
        perLayer.get(layer),
        prepared.totals[layer],
        `layer ${layer}: each chunk ran exactly once`,
      );
    }
    const stats = await queue.stats();
    assert.deepEqual(
      stats.stages.map((s) => s.done),
      prepared.totals.slice(2),
    );
    await runner.close();
    const { store, close } = await openGraphStore(prepared.storeUrl);
    try {
      await checkAgainstTruth(g, store);
    } finally {
      await close();
      await queue.close();
    }
  });

  it("--test builds one column: the L2 children of the centre L3 chunk and its ancestors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-test-"));
    const g = syntheticGraph({
      size: [64, 64, 16],
      chunkSize: [8, 8, 8],
      svSize: 4,
      mergeProbability: 0.3,
      seed: 9,
    });
    const ds = await writeSyntheticDataset(g, `file://${dir}/data`);
    const config = parseGraphConfig(
      { ...parse(ds.config), backend_client: { TYPE: "embedded", CONFIG: { PATH: "mem://t" } } },
      "d.yml",
    );
    const prepared = await prepareGraphIngest("col", config, { test: true });
    assert.deepEqual(prepared.job.testChunk, [2, 2, 0]);
    const queue = await openQueue("mem://graph-ingest-2");
    assert.equal(await enqueueGraph(prepared, queue), 8);
    const perLayer = await drain(queue, new GraphRunner());
    assert.equal(perLayer.get(2), 8);
    for (let layer = 3; layer <= g.layout.layerCount; layer++)
      assert.equal(perLayer.get(layer), 1, `layer ${layer}`);
    const { store } = await openGraphStore(prepared.storeUrl);
    // Supervoxels of the column reach the root layer; one outside the column has no parent.
    const inside = g.svAt(8, 8, 0); // cube 8 = voxel 32 = L2 chunk 4, inside L3 chunk 2
    const outside = g.svAt(0, 0, 0);
    const [r1, r2] = await rootsOf(store, [inside, outside]);
    assert.equal(layerOf(r1), g.layout.layerCount);
    assert.equal(r2, outside);
  });

  it("refuses a watershed that is not a segmentation, naming the field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-bad-"));
    const config = parseGraphConfig(
      {
        data_source: {
          EDGES: `file://${dir}/e`,
          COMPONENTS: `file://${dir}/c`,
          WATERSHED: `file://${dir}/nothing`,
        },
        graph_config: { CHUNK_SIZE: [8, 8, 8] },
      },
      "d.yml",
    );
    await assert.rejects(
      prepareGraphIngest("x", config),
      /no precomputed info at file:\/\/.*nothing\/info/,
    );
    await assert.rejects(prepareGraphIngest("bad name!", config), /graph name/);
  });
});
