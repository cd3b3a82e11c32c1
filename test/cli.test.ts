import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { openStore } from "../src/storage/registry.js";
import { writeStack } from "./fixtures/stack.js";
import { runCli } from "./helpers/cli.js";

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-cli-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test("--skip-empty leaves out sparse chunks, and lower scales match what was stored", async () => {
  // 64×64×8 slices: the left half is black except one bright voxel per slice, the right half
  // is textured. With 32×32×8 chunks the two left chunks are 1/8192 nonzero.
  const src = join(tmp, "sparse");
  await mkdir(src);
  for (let z = 0; z < 8; z++) {
    const px = new Uint8Array(64 * 64);
    for (let y = 0; y < 64; y++)
      for (let x = 32; x < 64; x++) px[x + 64 * y] = 1 + ((x * 7 + y * 3 + z) % 200);
    px[5 + 64 * 5] = 255;
    await sharp(px, { raw: { width: 64, height: 64, channels: 1 } })
      .toColourspace("b-w")
      .png()
      .toFile(join(src, `s${z}.png`));
  }
  const out = join(tmp, "sparse-out");
  const r = await runCli([
    "ingest",
    src,
    out,
    "--resolution",
    "4,4,4",
    "--chunk-size",
    "32,32,8",
    "--skip-empty",
    "0.01",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.ok(summary.chunksSkipped >= 2, `skipped ${summary.chunksSkipped}`);
  const files = await readdir(join(out, "4_4_4"));
  assert.ok(!files.some((f) => f.startsWith("0-32_")), files.join(","));
  assert.ok(files.some((f) => f.startsWith("32-64_")));
  const vol = await PrecomputedVolume.open(openStore(out));
  const s0 = await vol.read(0, { min: [0, 0, 0], max: [64, 64, 8] });
  assert.equal(s0.data[5 + 64 * 5], 0, "the lone voxel was in a skipped chunk: it reads as 0");
  // Scale 1 was computed from what scale 0 holds, so its left half is 0 as well.
  const s1 = await vol.read(1, { min: [0, 0, 0], max: [16, 32, 8] });
  assert.ok(s1.data.every((v) => v === 0));
});

test("cutout writes .npy that numpy's header rules accept, and info prints the scales", async () => {
  const src = join(tmp, "cut");
  const stack = await writeStack(src, {
    width: 40,
    height: 30,
    depth: 6,
    dtype: "uint16",
    format: "png",
  });
  const out = join(tmp, "cut-out");
  assert.equal((await runCli(["ingest", src, out, "--resolution", "8,8,30"])).code, 0);
  const npy = join(tmp, "box.npy");
  const r = await runCli(["cutout", out, "--box", "3,4,1:13,9,3", "-o", npy]);
  assert.equal(r.code, 0, r.stderr);
  const bytes = await readFile(npy);
  assert.equal(bytes.subarray(0, 6).toString("latin1"), "\x93NUMPY");
  const hlen = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + hlen).toString("latin1");
  assert.equal((10 + hlen) % 64, 0, "header padded to 64 bytes");
  assert.match(header, /'descr': '<u2', 'fortran_order': True, 'shape': \(10, 5, 2, 1\)/);
  const data = new Uint16Array(
    bytes.buffer.slice(bytes.byteOffset + 10 + hlen, bytes.byteOffset + bytes.length),
  );
  assert.equal(data.length, 10 * 5 * 2);
  for (let z = 0; z < 2; z++)
    for (let y = 0; y < 5; y++)
      for (let x = 0; x < 10; x++)
        assert.equal(data[x + 10 * (y + 5 * z)], stack.expected(x + 3, y + 4, z + 1, 0));

  const png = join(tmp, "slice.png");
  assert.equal((await runCli(["cutout", out, "--box", "0,0,2:40,30,3", "-o", png])).code, 0);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.width, meta.height, meta.depth], [40, 30, "ushort"]);

  const info = await runCli(["info", out]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /uint16, 1 channel/);
  assert.match(info.stdout, /8_8_30 +40×30×6/);
  const bad = await runCli(["cutout", out, "--box", "0,0,0:1,1,1", "--scale", "9", "-o", npy]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--scale 9/);
  const missing = await runCli(["info", join(tmp, "nothing-here")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no precomputed info at .*nothing-here\/info/);
  assert.equal(existsSync(join(tmp, "nothing-here")), false);
});
