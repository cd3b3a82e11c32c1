import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { isVoxportError } from "../../errors.js";
import type { Block, Vec3 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import { type Affine2, outputExtent, type Plane, warpAffine } from "../../ops/resample.js";
import { openAligned } from "./source.js";

interface Sec {
  z: number;
  w: number;
  h: number;
  affine: Affine2;
  channels: 1 | 3;
}

/** Deterministic pixel content: a ramp plus a hash, so misplaced pixels show. */
function pixel(z: number, x: number, y: number, c: number): number {
  return (x * 7 + y * 3 + z * 50 + c * 80 + ((x * y) % 13)) & 255;
}

async function writeSection(path: string, s: Sec): Promise<Uint8Array> {
  const px = new Uint8Array(s.w * s.h * s.channels);
  for (let y = 0, i = 0; y < s.h; y++)
    for (let x = 0; x < s.w; x++)
      for (let c = 0; c < s.channels; c++) px[i++] = pixel(s.z, x, y, c);
  await sharp(px, { raw: { width: s.w, height: s.h, channels: s.channels } })
    .toColourspace(s.channels === 1 ? "b-w" : "srgb")
    .png()
    .toFile(path);
  return px;
}

/** Reference: each section warped whole with warpAffine into the full global canvas. */
function reference(secs: Sec[], origin: Vec3, size: Vec3, method: "linear" | "nearest"): Block {
  const nc = secs[0].channels;
  const data = new Uint8Array(size[0] * size[1] * size[2] * nc);
  for (const s of secs) {
    const k = s.z - origin[2];
    if (k < 0 || k >= size[2]) continue;
    const src = new Uint8Array(s.w * s.h * nc);
    for (let c = 0; c < nc; c++)
      for (let y = 0; y < s.h; y++)
        for (let x = 0; x < s.w; x++) src[(c * s.h + y) * s.w + x] = pixel(s.z, x, y, c);
    const srcPlane: Plane = { data: src, x0: 0, y0: 0, width: s.w, height: s.h, channels: nc };
    const out: Plane = {
      data: new Uint8Array(size[0] * size[1] * nc),
      x0: origin[0],
      y0: origin[1],
      width: size[0],
      height: size[1],
      channels: nc,
    };
    warpAffine(srcPlane, s.w, s.h, s.affine, out, method, "uint8");
    const plane = size[0] * size[1];
    for (let c = 0; c < nc; c++) {
      data.set(
        (out.data as Uint8Array).subarray(c * plane, (c + 1) * plane),
        c * plane * size[2] + k * plane,
      );
    }
  }
  return { dtype: "uint8", shape: [...size, nc], data };
}

/** The part of `whole` (origin `at`) inside `box`, zeros outside it. */
function crop(whole: Block, box: Box): Block {
  const [sx, sy, sz, nc] = whole.shape;
  const n = [0, 1, 2].map((d) => box.max[d] - box.min[d]);
  const data = new Uint8Array(n[0] * n[1] * n[2] * nc);
  for (let c = 0; c < nc; c++)
    for (let z = 0; z < n[2]; z++)
      for (let y = 0; y < n[1]; y++)
        for (let x = 0; x < n[0]; x++) {
          const X = x + box.min[0];
          const Y = y + box.min[1];
          const Z = z + box.min[2];
          if (X < 0 || Y < 0 || Z < 0 || X >= sx || Y >= sy || Z >= sz) continue;
          data[x + n[0] * (y + n[1] * (z + n[2] * c))] = whole.data[
            X + sx * (Y + sy * (Z + sz * c))
          ] as number;
        }
  return { dtype: "uint8", shape: [n[0], n[1], n[2], nc], data };
}

function sameBlock(got: Block, want: Block, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  for (let i = 0; i < want.data.length; i++) {
    if (got.data[i] !== want.data[i])
      assert.fail(`${what}: voxel #${i} got ${got.data[i]}, want ${want.data[i]}`);
  }
}

const GREY: Sec[] = [
  { z: 0, w: 40, h: 30, affine: [1, 0, 0, 1, -7, 4], channels: 1 },
  { z: 1, w: 35, h: 33, affine: [0.8660254, 0.5, -0.5, 0.8660254, 20, -3], channels: 1 },
  { z: 3, w: 30, h: 28, affine: [1.4, 0.1, 0.3, 0.9, 2.5, -1.25], channels: 1 },
];
const RGB: Sec[] = [
  { z: 2, w: 24, h: 20, affine: [0.9, -0.2, 0.2, 0.9, 5, 6], channels: 3 },
  { z: 3, w: 22, h: 21, affine: [1, 0, 0, 1, -4, -2], channels: 3 },
];

describe("aligned source", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "voxport-aligned-src-"));
    const lines = (secs: Sec[], prefix: string) =>
      secs
        .map((s) => JSON.stringify({ z: s.z, file: `${prefix}${s.z}.png`, affine: s.affine }))
        .join("\n");
    for (const s of GREY) await writeSection(join(dir, `g${s.z}.png`), s);
    for (const s of RGB) await writeSection(join(dir, `c${s.z}.png`), s);
    await writeFile(join(dir, "grey.jsonl"), lines(GREY, "g"));
    await writeFile(join(dir, "rgb.jsonl"), lines(RGB, "c"));
    await writeFile(
      join(dir, "mixed.jsonl"),
      `${lines(GREY.slice(0, 1), "g")}\n${lines(RGB.slice(1), "c")}`,
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [list, secs] of [
    ["grey.jsonl", GREY],
    ["rgb.jsonl", RGB],
  ] as const) {
    for (const method of ["linear", "nearest"] as const) {
      it(`${list}, ${method}: extent = union; any box = the same voxels as warping whole sections`, async () => {
        const src = await openAligned(join(dir, list), { method });
        const ext = secs.map((s) => outputExtent(s.affine, s.w, s.h));
        const origin: Vec3 = [
          Math.min(...ext.map((e) => e.x0)),
          Math.min(...ext.map((e) => e.y0)),
          Math.min(...secs.map((s) => s.z)),
        ];
        assert.deepEqual(src.voxelOffset, origin);
        assert.deepEqual(src.size, [
          Math.max(...ext.map((e) => e.x1)) - origin[0],
          Math.max(...ext.map((e) => e.y1)) - origin[1],
          Math.max(...secs.map((s) => s.z)) + 1 - origin[2],
        ]);
        assert.equal(src.channels, secs[0].channels);
        const whole = reference(secs, origin, src.size, method);
        const all: Box = { min: [0, 0, 0], max: src.size };
        sameBlock(await src.read(all), whole, "whole volume");
        // Boxes inside, straddling every edge, one voxel, and fully outside.
        const boxes: Box[] = [
          { min: [3, 2, 0], max: [17, 11, src.size[2]] },
          { min: [-5, -4, -1], max: [9, 7, 2] },
          {
            min: [src.size[0] - 6, src.size[1] - 5, 1],
            max: [src.size[0] + 4, src.size[1] + 3, src.size[2] + 2],
          },
          { min: [10, 10, 1], max: [11, 11, 2] },
          { min: [-20, 0, 0], max: [-10, 5, 1] },
        ];
        for (const b of boxes)
          sameBlock(await src.read(b), crop(whole, b), `box ${JSON.stringify(b)}`);
      });
    }
  }

  it("a given extent (task box) sets origin and size; outside it reads zeros", async () => {
    const box: Box = { min: [-2, 0, 0], max: [30, 20, 5] };
    const src = await openAligned(join(dir, "grey.jsonl"), { method: "linear", box });
    assert.deepEqual(src.voxelOffset, [-2, 0, 0]);
    assert.deepEqual(src.size, [32, 20, 5]);
    const full = await openAligned(join(dir, "grey.jsonl"), { method: "linear" });
    const o = full.voxelOffset as Vec3;
    const got = await src.read({ min: [0, 0, 0], max: [32, 20, 5] });
    const want = await full.read({
      min: [-2 - o[0], -o[1], -o[2]],
      max: [30 - o[0], 20 - o[1], 5 - o[2]],
    });
    // Both read the same global box; z 4 (past the list) is zeros in both.
    sameBlock(got, want, "task box vs union");
    assert.ok(got.data.some((v) => v !== 0));
  });

  it("sections that disagree on channels are refused naming the line", async () => {
    await assert.rejects(
      openAligned(join(dir, "mixed.jsonl"), { method: "linear" }),
      (e: unknown) => {
        assert.ok(isVoxportError(e, "INVALID_SOURCE"));
        assert.match(
          (e as Error).message,
          /mixed\.jsonl:2: .*c3\.png is uint8 with 3 channel\(s\), but .*g0\.png is uint8 with 1/,
        );
        return true;
      },
    );
  });
});
