/**
 * File-name templates: tiled sections from printf patterns with three numbers (x, y, z) or a
 * regex with named groups; gaps in z and missing tiles are errors naming what is missing, and
 * zeros with allowGaps.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { isVoxportError } from "../errors.js";
import type { Block } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { openImageStack } from "./image-stack.js";
import { parseTemplate } from "./slice-list.js";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "voxport-templates-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const value = (x: number, y: number, z: number) => (x * 3 + y * 5 + z * 7) % 251;

/** Column widths and row heights of the test mosaic (last column and row are smaller). */
const COLS = [20, 20, 7];
const ROWS = [15, 9];
const W = COLS.reduce((a, b) => a + b);
const H = ROWS.reduce((a, b) => a + b);

async function writeTile(path: string, x0: number, y0: number, w: number, h: number, z: number) {
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[x + w * y] = value(x0 + x, y0 + y, z);
  await sharp(px, { raw: { width: w, height: h, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(path);
}

/** Writes every tile of sections zs; name(col, row, colPixel, rowPixel, z). */
async function mosaic(
  dir: string,
  zs: number[],
  name: (c: number, r: number, px: number, py: number, z: number) => string,
  zOf: (z: number) => number = (z) => z,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const z of zs) {
    let py = 0;
    for (let r = 0; r < ROWS.length; r++) {
      let px = 0;
      for (let c = 0; c < COLS.length; c++) {
        await writeTile(join(dir, name(c, r, px, py, z)), px, py, COLS[c], ROWS[r], zOf(z));
        px += COLS[c];
      }
      py += ROWS[r];
    }
  }
}

function check(b: Block, box: Box, want: (x: number, y: number, z: number) => number): void {
  const [sx, sy, sz] = b.shape;
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const X = x + box.min[0];
        const Y = y + box.min[1];
        const Z = z + box.min[2];
        const got = b.data[x + sx * (y + sy * z)];
        const e = X >= 0 && Y >= 0 && X < W && Y < H ? want(X, Y, Z) : 0;
        if (got !== e) assert.fail(`(${X},${Y},${Z}): got ${got}, expected ${e}`);
      }
}

describe("file-name templates", () => {
  it("parses one (z) or three (x, y, z) printf numbers and nothing else", () => {
    const t = parseTemplate("tile_%d_%d_z%04d.png");
    assert.deepEqual(t?.fields, ["x", "y", "z"]);
    assert.deepEqual(t?.parse("tile_2_10_z0007.png"), { x: 2, y: 10, z: 7 });
    assert.equal(t?.parse("tile_2_10_z7.png"), undefined);
    assert.equal(t?.format({ x: 1, y: 0, z: 12 }), "tile_1_0_z0012.png");
    assert.deepEqual(parseTemplate("s%03d.tif")?.parse("s042.tif"), { z: 42 });
    assert.equal(parseTemplate("plain.png"), undefined);
    assert.throws(
      () => parseTemplate("a%d_%d.png"),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /one %d \(z\) or three/.test(e.message),
    );
  });

  it("tiled sections from a printf pattern (x, y = tile column, row)", async () => {
    const dir = join(root, "printf");
    await mosaic(
      dir,
      [10, 11, 12],
      (c, r, _px, _py, z) => `tile_${c}_${r}_z${String(z).padStart(4, "0")}.png`,
    );
    const src = await openImageStack(join(dir, "tile_%d_%d_z%04d.png"));
    assert.deepEqual(src.size, [W, H, 3]);
    const whole: Box = { min: [0, 0, 0], max: [W, H, 3] };
    check(await src.read(whole), whole, (x, y, z) => value(x, y, z + 10));
    const part: Box = { min: [17, 12, 1], max: [W + 3, H - 2, 3] };
    check(await src.read(part), part, (x, y, z) => value(x, y, z + 10));
  });

  it("tiled sections from a regex with named groups (pixel offsets, any order)", async () => {
    const dir = join(root, "regex");
    await mosaic(dir, [0, 1], (_c, _r, px, py, z) => `s${z}_row${py}_col${px}.png`);
    const src = await openImageStack(dir, {
      zRegex: "^s(?<z>\\d+)_row(?<y>\\d+)_col(?<x>\\d+)\\.png$",
    });
    assert.deepEqual(src.size, [W, H, 2]);
    const whole: Box = { min: [0, 0, 0], max: [W, H, 2] };
    check(await src.read(whole), whole, value);
  });

  it("a missing tile is an error naming the section and tile; zeros with allowGaps", async () => {
    const dir = join(root, "missing-tile");
    await mosaic(dir, [0, 1], (c, r, _px, _py, z) => `t_${c}_${r}_${z}.png`);
    await unlink(join(dir, "t_1_0_1.png"));
    await assert.rejects(openImageStack(join(dir, "t_%d_%d_%d.png")), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"), String(e));
      assert.match(e.message, /section z=1 lacks 1 of its 6 tiles \(x=1 y=0\)/);
      return true;
    });
    const src = await openImageStack(join(dir, "t_%d_%d_%d.png"), { allowGaps: true });
    const whole: Box = { min: [0, 0, 0], max: [W, H, 2] };
    check(await src.read(whole), whole, (x, y, z) =>
      z === 1 && x >= 20 && x < 40 && y < 15 ? 0 : value(x, y, z),
    );
  });

  it("gaps in z: an error naming the missing z values; zero sections with allowGaps", async () => {
    const dir = join(root, "gaps");
    await mosaic(dir, [3, 4, 7], (c, r, _px, _py, z) => `g${z}_x${c}_y${r}.png`);
    const re = "g(?<z>\\d+)_x(?<x>\\d+)_y(?<y>\\d+)";
    await assert.rejects(openImageStack(dir, { zRegex: re }), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"), String(e));
      assert.match(e.message, /2 z value\(s\) missing between 3 and 7: 5, 6 /);
      return true;
    });
    const src = await openImageStack(dir, { zRegex: re, allowGaps: true });
    assert.deepEqual(src.size, [W, H, 5]);
    const whole: Box = { min: [0, 0, 0], max: [W, H, 5] };
    check(await src.read(whole), whole, (x, y, z) => (z === 2 || z === 3 ? 0 : value(x, y, z + 3)));
  });

  it("gaps in a one-number printf pattern become zero sections with allowGaps", async () => {
    const dir = join(root, "printf-gaps");
    await mkdir(dir, { recursive: true });
    for (const z of [0, 2]) await writeTile(join(dir, `s${z}.png`), 0, 0, W, H, z);
    await assert.rejects(openImageStack(join(dir, "s%d.png")), /missing slice file .*s1\.png/);
    const src = await openImageStack(join(dir, "s%d.png"), { allowGaps: true });
    assert.deepEqual(src.size, [W, H, 3]);
    const whole: Box = { min: [0, 0, 0], max: [W, H, 3] };
    check(await src.read(whole), whole, (x, y, z) => (z === 1 ? 0 : value(x, y, z)));
  });
});
