import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { parse } from "yaml";
import { buildInProcess } from "../../src/graph/build.js";
import { parseGraphConfig } from "../../src/graph/config.js";
import { prepareGraphIngest } from "../../src/graph/ingest.js";
import { graphServer } from "../../src/graph/serve.js";
import { MemoryGraphStore } from "../../src/graph/store.js";
import { syntheticGraph } from "../../src/graph/synthetic.js";
import { writeSyntheticDataset } from "../../src/graph/synthetic-files.js";
import { inputOf } from "../conformance/graph-store.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Json = Record<string, any>;
const json = async (r: Promise<Response> | Response): Promise<Json> =>
  (await (await r).json()) as Json;

describe("graph read API over HTTP", () => {
  const g = syntheticGraph({
    size: [32, 16, 16],
    chunkSize: [8, 8, 8],
    svSize: 4,
    mergeProbability: 0.5,
    seed: 4,
  });
  const store = new MemoryGraphStore();
  let app: FastifyInstance;
  let base: string;
  let api: string;
  const big = g.objects.reduce((a, b) => (b.length > a.length ? b : a));

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "vx-graph-serve-"));
    const ds = await writeSyntheticDataset(g, `file://${dir}`);
    const config = parseGraphConfig(
      {
        ...parse(ds.config),
        graph_config: { ...parse(ds.config).graph_config, ID_PREFIX: "lab_" },
      },
      "d.yml",
    );
    const prepared = await prepareGraphIngest("fly", config);
    await buildInProcess(g.layout, store, inputOf(g));
    app = await graphServer({ store, job: prepared.job });
    base = await app.listen({ port: 0, host: "127.0.0.1" });
    api = `${base}/segmentation/api/v1/table/lab_fly`;
  });
  after(() => app?.close());

  it("serves the graphene info Neuroglancer needs", async () => {
    const info = await json(fetch(`${base}/segmentation/table/lab_fly/info`));
    assert.equal(info.graph.n_layers, g.layout.layerCount);
    assert.deepEqual(info.graph.chunk_size, [8, 8, 8]);
    assert.deepEqual(info.app.supported_api_versions, [0, 1]);
    assert.match(info.data_dir, /^file:\/\//);
    assert.equal(info.data_type, "uint64");
    assert.equal((await fetch(`${base}/segmentation/table/other/info`)).status, 404);
  });

  it("answers root, roots and roots_binary with exact uint64 ids", async () => {
    const sv = big[big.length - 1];
    const r = await json(fetch(`${api}/node/${sv}/root?int64_as_str=1`));
    const root = BigInt(r.root_id);
    const text = await (await fetch(`${api}/node/${sv}/root`)).text();
    assert.equal(text, `{"root_id":${root}}`, "exact digits, not a rounded double");
    const many = await json(
      fetch(`${api}/roots?int64_as_str=1`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ node_ids: big.map(String) }),
      }),
    );
    assert.deepEqual(new Set(many.root_ids), new Set([String(root)]));
    const body = Buffer.alloc(16);
    body.writeBigUInt64LE(big[0], 0);
    body.writeBigUInt64LE(g.objects[0][0], 8);
    const bin = Buffer.from(
      await (
        await fetch(`${api}/roots_binary`, {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body,
        })
      ).arrayBuffer(),
    );
    assert.equal(bin.readBigUInt64LE(0), root);
    assert.equal(bin.length, 16);
  });

  it("lists leaves of a root, pruned to a bounding box", async () => {
    const { root_id } = await json(fetch(`${api}/node/${big[0]}/root?int64_as_str=1`));
    const all = await json(fetch(`${api}/node/${root_id}/leaves?int64_as_str=1`));
    assert.deepEqual(all.leaf_ids, big.map(String));
    // Voxels [0,8)×[0,8)×[0,8) = L2 chunk (0,0,0): only the object's supervoxels there.
    const box = await json(
      fetch(`${api}/node/${root_id}/leaves?int64_as_str=1&bounds=0-8_0-8_0-8`),
    );
    const expected = big.filter((sv) =>
      [0, 1].some((i) => [0, 1].some((j) => [0, 1].some((k) => g.svAt(i, j, k) === sv))),
    );
    assert.deepEqual(box.leaf_ids, expected.map(String));
    const kids = await json(fetch(`${api}/node/${root_id}/children?int64_as_str=1`));
    assert.ok(kids.children_ids.length >= 1);
  });

  it("rejects bad ids and bounds with 400 and a message", async () => {
    const r = await fetch(`${api}/node/12x/root`);
    assert.equal(r.status, 400);
    assert.match((await json(r)).error, /not a uint64/);
    const b = await fetch(`${api}/node/1/leaves?bounds=1-2`);
    assert.equal(b.status, 400);
    assert.match((await json(b)).error, /bounds/);
  });
});
