import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseGraphConfig, readGraphConfig } from "./config.js";

const YAML = `data_source:
  EDGES: gs://bucket/edges
  COMPONENTS: gs://bucket/components
  WATERSHED: gs://bucket/ws
  DATA_VERSION: 4
graph_config:
  CHUNK_SIZE: [256, 256, 512]
  FANOUT: 2
  SPATIAL_BITS: 10
  LAYER_ID_BITS: 8
backend_client:
  TYPE: bigtable
  CONFIG:
    ADMIN: true
    READ_ONLY: false
    PROJECT: lab
    INSTANCE: pcg
ingest_config:
  AGGLOMERATION: gs://bucket/agg
`;

describe("graph config", () => {
  it("reads a PyChunkedGraph dataset file and fills defaults", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-"));
    await writeFile(join(dir, "dataset.yml"), YAML);
    const cfg = await readGraphConfig(join(dir, "dataset.yml"));
    assert.deepEqual(cfg.graph_config.CHUNK_SIZE, [256, 256, 512]);
    assert.equal(cfg.data_source.CV_MIP, 0);
    assert.equal(cfg.graph_config.ID_PREFIX, "");
    assert.equal(cfg.backend_client.CONFIG.INSTANCE, "pcg");
    const minimal = parseGraphConfig(
      {
        data_source: { EDGES: "e", COMPONENTS: "c", WATERSHED: "w" },
        graph_config: { CHUNK_SIZE: [64, 64, 64] },
      },
      "x.yml",
    );
    assert.equal(minimal.backend_client.TYPE, "embedded");
    assert.equal(minimal.graph_config.SPATIAL_BITS, 10);
  });

  it("names the file and field on bad input", async () => {
    const base = {
      data_source: { EDGES: "e", COMPONENTS: "c", WATERSHED: "w" },
      graph_config: { CHUNK_SIZE: [64, 64, 64] },
    };
    assert.throws(
      () => parseGraphConfig({ ...base, graph_config: { CHUNK_SIZE: [64, 64] } }, "d.yml"),
      /invalid graph config d.yml: graph_config.CHUNK_SIZE/,
    );
    assert.throws(
      () =>
        parseGraphConfig(
          { ...base, graph_config: { CHUNK_SIZE: [64, 64, 64], FANOUT: 3 } },
          "d.yml",
        ),
      /graph_config.FANOUT/,
    );
    assert.throws(
      () => parseGraphConfig({ ...base, data_source: { EDGES: "e" } }, "d.yml"),
      /data_source.COMPONENTS/,
    );
    assert.throws(() => parseGraphConfig({ ...base, extra: 1 }, "d.yml"), /extra|Unrecognized/);
    assert.throws(
      () => parseGraphConfig({ ...base, backend_client: { TYPE: "bigtable" } }, "d.yml"),
      /backend_client.CONFIG.PROJECT: required/,
    );
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-"));
    await writeFile(join(dir, "bad.yml"), "data_source: [unclosed");
    await assert.rejects(readGraphConfig(join(dir, "bad.yml")), /bad.yml: not valid YAML/);
    await assert.rejects(readGraphConfig(join(dir, "missing.yml")), /missing.yml/);
  });
});
