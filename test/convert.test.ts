import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { boxShape } from "../src/ops/bbox.js";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { openStore } from "../src/storage/registry.js";
import { scaleBox } from "../src/tasks/plan.js";
import { writeStack } from "./fixtures/stack.js";
import { runCli } from "./helpers/cli.js";

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-convert-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function sameVoxels(a: string, b: string): Promise<void> {
  const va = await PrecomputedVolume.open(openStore(a));
  const vb = await PrecomputedVolume.open(openStore(b));
  assert.equal(vb.info.scales.length, va.info.scales.length);
  for (let j = 0; j < va.info.scales.length; j++) {
    const box = scaleBox(va.info.scales[j]);
    assert.deepEqual(scaleBox(vb.info.scales[j]), box, `scale ${j} bounds`);
    const [x, y] = [await va.read(j, box), await vb.read(j, box)];
    assert.deepEqual(boxShape(box), x.shape.slice(0, 3));
    assert.ok(
      Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).equals(
        Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength),
      ),
      `scale ${j} voxels differ`,
    );
  }
}

test("convert: unsharded raw → sharded → cseg unsharded → raw, voxels unchanged at every scale", async () => {
  const src = join(tmp, "labels");
  await writeStack(src, {
    width: 90,
    height: 70,
    depth: 20,
    dtype: "uint32-labels",
    format: "tif",
  });
  const a = join(tmp, "a");
  const args = ["--chunk-size", "16,16,8", "--memory", "1MiB", "--workers", "2"];
  let r = await runCli([
    "ingest",
    src,
    a,
    "--resolution",
    "8,8,8",
    "--type",
    "segmentation",
    "--encoding",
    "raw",
    ...args,
  ]);
  assert.equal(r.code, 0, r.stderr);

  const b = join(tmp, "b");
  r = await runCli(["convert", a, b, "--sharded", "--shard-size", "16KiB", "--workers", "2"]);
  assert.equal(r.code, 0, r.stderr);
  const vb = await PrecomputedVolume.open(openStore(b));
  assert.ok(vb.info.scales.every((s) => s.sharding && s.encoding === "raw"));
  assert.ok((await readdir(join(b, vb.info.scales[0].key))).every((f) => f.endsWith(".shard")));
  await sameVoxels(a, b);

  const c = join(tmp, "c");
  r = await runCli(["convert", b, c, "--unsharded", "--encoding", "compressed_segmentation"]);
  assert.equal(r.code, 0, r.stderr);
  const vc = await PrecomputedVolume.open(openStore(c));
  assert.ok(vc.info.scales.every((s) => !s.sharding && s.encoding === "compressed_segmentation"));
  await sameVoxels(a, c);

  const d = join(tmp, "d");
  r = await runCli([
    "convert",
    c,
    d,
    "--encoding",
    "raw",
    "--chunk-size",
    "32,32,32",
    "--compress",
    "none",
  ]);
  assert.equal(r.code, 0, r.stderr);
  await sameVoxels(a, d);
});

test("convert refuses an encoding the data cannot use, before writing", async () => {
  const src = join(tmp, "img");
  await writeStack(src, { width: 20, height: 20, depth: 3, dtype: "uint16", format: "png" });
  const a = join(tmp, "img-out");
  assert.equal((await runCli(["ingest", src, a, "--resolution", "4,4,4"])).code, 0);
  const r = await runCli(["convert", a, join(tmp, "img-jpeg"), "--encoding", "jpeg"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /jpeg holds uint8/);
});
