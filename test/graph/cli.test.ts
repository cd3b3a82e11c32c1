/**
 * The graph through the CLI, on real queues and real stores: the embedded default (file queue
 * + LevelDB in one process), and the distributed path — Redis (BullMQ) queue, Bigtable
 * emulator store, several `voxport work` processes, one of them killed with SIGKILL mid-build.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { buildInProcess } from "../../src/graph/build.js";
import { parseGraphConfig } from "../../src/graph/config.js";
import { prepareGraphIngest } from "../../src/graph/ingest.js";
import { MemoryGraphStore } from "../../src/graph/store.js";
import { openGraphStore } from "../../src/graph/stores/open.js";
import { syntheticGraph } from "../../src/graph/synthetic.js";
import { writeSyntheticDataset } from "../../src/graph/synthetic-files.js";
import { openQueue } from "../../src/queue/open.js";
import { totals } from "../../src/queue/queue.js";
import { checkAgainstTruth, inputOf, snapshot } from "../conformance/graph-store.js";
import { collect, runCli, startCli } from "../helpers/cli.js";
import { missing, type Server, startRedis } from "../queue/servers.js";
import { type BigtableServer, bigtableAvailable, startBigtable } from "../servers/bigtable.js";
import { skipUnless } from "../servers/common.js";

describe("voxport graph (embedded default)", () => {
  it("synth → ingest → status → serve, and a rerun does nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-cli-"));
    const synth = await runCli([
      "graph",
      "synth",
      join(dir, "data"),
      "--size",
      "48,32,16",
      "--chunk-size",
      "8,8,8",
      "--sv-size",
      "4",
      "--seed",
      "3",
    ]);
    assert.equal(synth.code, 0, synth.stderr);
    assert.match(synth.stderr, /wrote 384 supervoxels/);
    const cfgPath = join(dir, "data", "dataset.yml");
    const cfg = parse(await readFile(cfgPath, "utf8"));
    cfg.backend_client = { TYPE: "embedded", CONFIG: { PATH: join(dir, "graphs") } };
    await writeFile(cfgPath, stringify(cfg));

    const run = await runCli(["graph", "ingest", "fly", cfgPath, "--workers", "3"], {
      env: { VOXPORT_LOG: "info" },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /2\t: 48 \/ 48/);
    const status = await runCli(["graph", "status", "fly", cfgPath]);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trim().split("\n");
    // 6×4×2 L2 chunks → 3×2×1 → 2×1×1 → the root.
    assert.deepEqual(lines, ["2\t: 48 / 48", "3\t: 6 / 6", "4\t: 2 / 2", "5\t: 1 / 1"]);
    const again = await runCli(["graph", "ingest", "fly", cfgPath]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 newly enqueued/);

    const g = syntheticGraph({
      size: [48, 32, 16],
      chunkSize: [8, 8, 8],
      svSize: 4,
      mergeProbability: 0.3,
      crossProbability: 0.02,
      seed: 3,
    });
    const config = parseGraphConfig(cfg, cfgPath);
    const prepared = await prepareGraphIngest("fly", config);
    const { store, close } = await openGraphStore(prepared.storeUrl);
    try {
      await checkAgainstTruth(g, store);
    } finally {
      await close();
    }
  });

  it("a bad config fails before any work, naming the field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-cli-bad-"));
    await writeFile(
      join(dir, "d.yml"),
      "data_source: {EDGES: e, COMPONENTS: c, WATERSHED: w}\ngraph_config: {CHUNK_SIZE: [8, 8], FANOUT: 2}\n",
    );
    const r = await runCli(["graph", "ingest", "x", join(dir, "d.yml")]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /graph_config.CHUNK_SIZE/);
  });
});

const skipRedis = missing("redis");
const skipBigtable = skipUnless(
  bigtableAvailable(),
  "the Bigtable emulator",
  "test/setup/provision-bigtable.mjs",
);

describe(
  "voxport graph on Redis + Bigtable with several workers",
  { skip: skipRedis ?? skipBigtable },
  () => {
    let redis: Server;
    let bigtable: BigtableServer;
    before(async () => {
      redis = await startRedis();
      bigtable = await startBigtable();
    });
    after(async () => {
      await redis?.stop();
      await bigtable?.stop();
    });

    it("3 workers, one killed with SIGKILL mid-build: every chunk done once, the graph exact", async () => {
      const dir = await mkdtemp(join(tmpdir(), "vx-graph-dist-"));
      const g = syntheticGraph({
        size: [64, 48, 16],
        chunkSize: [8, 8, 8],
        svSize: 4,
        mergeProbability: 0.3,
        crossProbability: 0.05,
        seed: 21,
      });
      const ds = await writeSyntheticDataset(g, `file://${dir}/data`, {
        backend: { TYPE: "bigtable", CONFIG: { PROJECT: "lab", INSTANCE: "pcg" } },
      });
      const cfgPath = join(dir, "dataset.yml");
      await writeFile(cfgPath, ds.config);
      const env = { BIGTABLE_EMULATOR_HOST: bigtable.host, METADATA_SERVER_DETECTION: "none" };
      // The table must exist before workers write to it: ingest creates it.
      const queue = `${redis.url}/graph`;
      const enq = await runCli(["graph", "ingest", "fly", cfgPath, "--queue", queue], { env });
      assert.equal(enq.code, 0, enq.stderr);
      const work = () =>
        startCli(
          [
            "work",
            queue,
            "--workers",
            "2",
            "--exit-when-empty",
            "--lease",
            "5s",
            "--wait",
            "500ms",
          ],
          { env },
        );
      // Three workers; kill -9 one after 3 s and another after 6 s, and start a replacement.
      const workers = [work(), work(), work()];
      const results = workers.map(collect);
      await new Promise((r) => setTimeout(r, 3000));
      workers[0].kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 3000));
      workers[1].kill("SIGKILL");
      const extra = collect(work());
      const done = await Promise.all([...results, extra]);
      assert.equal(done[0].signal, "SIGKILL");
      for (const r of done.slice(2)) assert.equal(r.code, 0, r.stderr);

      const q = await openQueue(queue);
      const stats = await q.stats();
      const t = totals(stats);
      await q.close();
      const config = parseGraphConfig(parse(ds.config), cfgPath);
      const prepared = await prepareGraphIngest("fly", config);
      assert.deepEqual(
        stats.stages.map((s) => s.done),
        prepared.totals.slice(2),
        "every chunk completed exactly once",
      );
      assert.equal(t.leased + t.pending + t.delayed + t.dead, 0, "nothing left in flight");
      process.env.BIGTABLE_EMULATOR_HOST = bigtable.host;
      process.env.METADATA_SERVER_DETECTION = "none";
      const { store, close } = await openGraphStore(prepared.storeUrl);
      try {
        await checkAgainstTruth(g, store);
        // The same ids as an undisturbed single-process build: the kills left no duplicates.
        const reference = new MemoryGraphStore();
        await buildInProcess(g.layout, reference, inputOf(g));
        assert.deepEqual(await snapshot(g, store), await snapshot(g, reference));
      } finally {
        await close();
      }
    });
  },
);
