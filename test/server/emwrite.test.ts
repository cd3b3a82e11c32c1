import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { type Affine2, outputExtent } from "../../src/ops/resample.js";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { ingestFlags } from "../../src/server/emwrite/layout.js";
import { openAligned } from "../../src/sources/aligned/source.js";
import { openStore } from "../../src/storage/registry.js";
import { runCli } from "../helpers/cli.js";
import { type Running, readAll, startServer, tempDir, writeSection } from "./helpers.js";

// The emwrite sequence through real HTTP — /alignedslice for every section, /ngmeta, /ngshard
// for every block — must give the very bytes `voxport ingest` writes for the same sections
// (a .jsonl sections file with the same affines) with the flags layout.ts names.

const W = 1100; // two 1024-blocks along x: tiles, regions and blocks all have an edge case
const H = 300;
const rot = (deg: number, e: number, f: number): Affine2 => {
  const r = (deg * Math.PI) / 180;
  return [Math.cos(r), Math.sin(r), -Math.sin(r), Math.cos(r), e, f];
};
const SECTIONS: { size: [number, number]; affine: Affine2 }[] = [
  { size: [W, H], affine: [1, 0, 0, 1, 0, 0] }, // covers the canvas: the CLI's default extent
  { size: [600, 180], affine: rot(7, 250, 20) },
  { size: [500, 180], affine: [1.25, 0.1, -0.05, 1.2, 100.5, 20.25] },
  { size: [1000, 250], affine: [1, 0, 0, 1, 30, 10] },
  { size: [700, 100], affine: rot(-12, 100, 160) },
  { size: [1200, 400], affine: [0.5, 0, 0, 0.5, 10, 10] },
];
const MAXZ = SECTIONS.length - 1;

let root: string;
let srv: Running;

before(async () => {
  root = await tempDir("emwrite");
  await mkdir(join(root, "lab", "raw"), { recursive: true });
  for (const [z, s] of SECTIONS.entries()) {
    const e = outputExtent(s.affine, s.size[0], s.size[1]);
    assert.ok(e.x0 >= 0 && e.y0 >= 0 && e.x1 <= W && e.y1 <= H, `section ${z} inside the canvas`);
    await writeSection(join(root, "lab", "raw", `s${z}.png`), s.size[0], s.size[1], z);
  }
  srv = await startServer({
    allow: [pathToFileURL(root).href],
    bucketBase: `${pathToFileURL(root).href}/`,
  });
});

after(async () => {
  await srv?.close();
  await rm(root, { recursive: true, force: true });
});

const volume = { minz: 0, maxz: MAXZ, resolution: 8, "shard-size": 1024 };

test("alignedslice → ngmeta → ngshard equals voxport ingest of the same sections", async () => {
  for (const [z, s] of SECTIONS.entries()) {
    const r = await srv.post("/alignedslice", {
      img: `raw/s${z}.png`,
      // emwrite's string forms for even z, real JSON arrays for odd z: both accepted.
      transform: z % 2 ? s.affine : `[${s.affine.join(", ")}]`,
      bbox: z % 2 ? [W, H] : `[${W}, ${H}]`,
      dest: "lab",
      "dest-tmp": "lab_tmp",
      slice: z,
      "shard-size": 1024,
      run_id: "manual__1",
      "clip-limit": 0, // the CLI ingest has no CLAHE
    });
    assert.equal(r.status, 200, await r.text());
  }
  const meta = await srv.post("/ngmeta", {
    ...volume,
    dest: "lab_ng",
    dest_raw: "lab_chunk",
    bbox: `[${W}, ${H}]`,
    writeRaw: "True",
  });
  assert.equal(meta.status, 200, await meta.text());
  for (const cx of [0, 1]) {
    const r = await srv.post("/ngshard", {
      ...volume,
      dest: "lab_ng",
      dest_raw: "lab_chunk",
      source: "lab_tmp",
      start: `[${cx}, 0, 0]`,
      bbox: [W, H],
      writeRaw: true,
    });
    assert.equal(r.status, 200, await r.text());
  }
  // emwrite's DAG also sends blocks past the volume: nothing to do, still a success.
  const past = await srv.post("/ngshard", {
    ...volume,
    dest: "lab_ng",
    source: "lab_tmp",
    start: [2, 0, 0],
    bbox: [W, H],
  });
  assert.equal(past.status, 200);

  // The CLI ingest of the same sections.
  const cli = join(root, "cli");
  await mkdir(cli);
  const lines = SECTIONS.map((s, z) =>
    JSON.stringify({ z, file: join(root, "lab", "raw", `s${z}.png`), affine: s.affine }),
  );
  await writeFile(join(cli, "sections.jsonl"), `${lines.join("\n")}\n`);
  const g = { width: W, height: H, minz: 0, maxz: MAXZ, resolution: 8, jpegQuality: 85 };
  const { flags, shardSpecs } = ingestFlags(g);
  await writeFile(join(cli, "specs.json"), JSON.stringify(shardSpecs));
  const out = join(root, "cli_out");
  const r = await runCli([
    "ingest",
    join(cli, "sections.jsonl"),
    pathToFileURL(out).href,
    ...flags,
    `--shard-spec=@${join(cli, "specs.json")}`,
  ]);
  assert.equal(r.code, 0, r.stderr);

  const served = await readAll(join(root, "lab_ng", "neuroglancer", "jpeg"));
  const ingested = await readAll(out);
  ingested.delete("provenance");
  assert.deepEqual([...served.keys()], [...ingested.keys()]);
  assert.ok(served.size > 3, "several scales and shards");
  assert.ok([...served.keys()].some((k) => k.endsWith(".shard")));
  for (const [k, v] of served) assert.ok(v.equals(ingested.get(k)!), `${k} differs`);

  // The raw copy holds exactly the voxels of the aligned-sections source (lossless path).
  const raw = await PrecomputedVolume.open(
    openStore(join(root, "lab_chunk", "neuroglancer", "raw")),
  );
  const box = {
    min: [0, 0, 0] as [number, number, number],
    max: [W, H, MAXZ + 1] as [number, number, number],
  };
  const got = await raw.read(0, box);
  const src = await openAligned(join(cli, "sections.jsonl"), { method: "linear" });
  const want = await src.read(box);
  assert.deepEqual(Buffer.from(got.data.buffer), Buffer.from(want.data.buffer));
});

test("quirks: shard-size other than 1024, a clip-limit over 1 and a changed volume are refused clearly", async () => {
  const bad = await srv.post("/ngmeta", {
    ...volume,
    dest: "lab_ng2",
    bbox: [W, H],
    "shard-size": 512,
  });
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as { field: string; error: string };
  assert.equal(body.field, "shard-size");
  assert.match(body.error, /must be 1024/);

  const clahe = await srv.post("/alignedslice", {
    img: "raw/s0.png",
    transform: [1, 0, 0, 1, 0, 0],
    bbox: [W, H],
    dest: "lab",
    "dest-tmp": "lab_tmp",
    slice: 0,
    "clip-limit": 1.5,
  });
  assert.equal(clahe.status, 400);
  assert.equal(((await clahe.json()) as { field: string }).field, "clip-limit");

  // /ngshard for a volume other than the one /ngmeta described: 409, nothing written.
  const other = await srv.post("/ngshard", {
    ...volume,
    maxz: MAXZ + 1,
    dest: "lab_ng",
    source: "lab_tmp",
    start: [0, 0, 0],
    bbox: [W, H],
  });
  assert.equal(other.status, 409);
});
