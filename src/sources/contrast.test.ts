/**
 * --contrast: the window mapping, its parsing, the auto window from a sample, and an ingest in
 * which the job stores the resolved numbers (never "auto") and the dataset is uint8.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { isVoxportError } from "../errors.js";
import { type Block, makeBlock, type Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openStore } from "../storage/registry.js";
import { prepareIngest, runIngest } from "../tasks/ingest.js";
import { applyWindow, ContrastSource, parseContrast, sampleContrastWindow } from "./contrast.js";
import { openSource } from "./open.js";
import type { VolumeSource } from "./source.js";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "voxport-contrast-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** An in-memory uint16 volume whose voxel value is f(x, y, z). */
function fnSource(size: Vec3, f: (x: number, y: number, z: number) => number): VolumeSource {
  return {
    description: "fn",
    size,
    dtype: "uint16",
    channels: 1,
    async read(box: Box): Promise<Block> {
      const s = [0, 1, 2].map((d) => box.max[d] - box.min[d]);
      const b = makeBlock("uint16", [s[0], s[1], s[2], 1]);
      let i = 0;
      for (let z = box.min[2]; z < box.max[2]; z++)
        for (let y = box.min[1]; y < box.max[1]; y++)
          for (let x = box.min[0]; x < box.max[0]; x++, i++) {
            const inside = x >= 0 && y >= 0 && z >= 0 && x < size[0] && y < size[1] && z < size[2];
            b.data[i] = inside ? f(x, y, z) : 0;
          }
      return b;
    },
  };
}

describe("contrast", () => {
  it("maps v to round(255 (v - min) / (max - min)), clamped; NaN to 0; inverted windows", () => {
    const out = new Uint8Array(7);
    applyWindow([100, 200, 150, 50, 300, 151, Number.NaN], out, [100, 200]);
    assert.deepEqual([...out], [0, 255, 128, 0, 255, 130, 0]);
    applyWindow([100, 200, 150, 0, 0, 0, 0], out, [200, 100]);
    assert.deepEqual([...out.subarray(0, 3)], [255, 0, 128]);
    const big = new Uint8Array(2);
    applyWindow([0n, 2n ** 40n], big, [0, 1000]);
    assert.deepEqual([...big], [0, 255]);
  });

  it("parses auto and MIN,MAX; refuses anything else naming the flag", () => {
    assert.equal(parseContrast("auto"), "auto");
    assert.deepEqual(parseContrast("200,3500"), [200, 3500]);
    assert.deepEqual(parseContrast("-1.5, 2e3"), [-1.5, 2000]);
    for (const bad of ["", "1", "1,2,3", "a,b", "5,5", "1,"]) {
      assert.throws(
        () => parseContrast(bad),
        (e) => isVoxportError(e, "INVALID_ARGUMENT") && e.message.includes("--contrast"),
      );
    }
  });

  it("auto: the 0.5 and 99.5 percentiles of the non-zero sampled voxels", async () => {
    // Values 1000..1999 uniformly (x + 1000 * ... mod), a zero border that must be ignored.
    const src = fnSource([1000, 400, 40], (x, y) =>
      x < 10 || y < 10 ? 0 : 1000 + ((x * 7 + y * 3) % 1000),
    );
    const [lo, hi] = await sampleContrastWindow(src);
    assert.ok(lo >= 1000 && lo <= 1010, `low ${lo}`);
    assert.ok(hi >= 1990 && hi <= 1999, `high ${hi}`);
    const c = new ContrastSource(src, [lo, hi]);
    assert.equal(c.dtype, "uint8");
    const b = await c.read({ min: [500, 200, 3], max: [510, 201, 4] });
    for (let i = 0; i < 10; i++) {
      const v = 1000 + (((500 + i) * 7 + 200 * 3) % 1000);
      const want = Math.min(255, Math.max(0, Math.round(((v - lo) * 255) / (hi - lo))));
      assert.equal(b.data[i], want);
    }
  });

  it("ingest --contrast auto: the job stores numbers and the dataset is uint8", async () => {
    const dir = join(root, "stack");
    await mkdir(dir);
    const W = 40;
    const H = 30;
    const value = (x: number, y: number, z: number) => 3000 + ((x * 97 + y * 31 + z * 7) % 2000);
    for (let z = 0; z < 4; z++) {
      const px = new Uint16Array(W * H);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px[x + W * y] = value(x, y, z);
      await sharp(px, { raw: { width: W, height: H, channels: 1 } })
        .toColourspace("grey16")
        .png()
        .toFile(join(dir, `s${z}.png`));
    }
    const prepared = await prepareIngest({
      source: dir,
      destination: "mem://contrast-auto",
      resolution: [4, 4, 40],
      contrast: "auto",
      workers: 0,
    });
    const spec = prepared.job.source;
    assert.equal(spec.kind, "contrast");
    if (spec.kind !== "contrast") return;
    assert.equal(spec.source.kind, "image-stack");
    const [lo, hi] = spec.window;
    assert.ok(
      Number.isFinite(lo) && Number.isFinite(hi) && lo >= 3000 && hi <= 4999,
      `${lo},${hi}`,
    );
    assert.equal(prepared.job.info.data_type, "uint8");
    // The spec alone reopens the same mapping (what a worker elsewhere does).
    const reopened = await openSource(JSON.parse(JSON.stringify(spec)));
    assert.equal(reopened.dtype, "uint8");
    await runIngest(prepared);
    const vol = await PrecomputedVolume.open(openStore("mem://contrast-auto"));
    const b = await vol.read(0, { min: [0, 0, 0], max: [W, H, 4] });
    for (const [x, y, z] of [
      [0, 0, 0],
      [13, 7, 2],
      [39, 29, 3],
    ]) {
      const v = value(x, y, z);
      const want = Math.min(255, Math.max(0, Math.round(((v - lo) * 255) / (hi - lo))));
      assert.equal(b.data[x + W * (y + H * z)], want, `(${x},${y},${z})`);
    }
    await assert.rejects(
      prepareIngest({
        source: dir,
        destination: "mem://contrast-seg",
        resolution: [4, 4, 40],
        contrast: [0, 100],
        type: "segmentation",
      }),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /segmentation/.test(e.message),
    );
  });
});
