import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { type StackOptions, type WrittenStack, writeStack } from "../../test/fixtures/stack.js";
import { isVoxportError } from "../errors.js";
import type { Block } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { openImageStack } from "./image-stack.js";

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "voxport-stack-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function stack(opts: StackOptions): Promise<{ dir: string; st: WrittenStack }> {
  const dir = join(root, `s${counter++}`);
  return { dir, st: await writeStack(dir, opts) };
}

function at(b: Block, x: number, y: number, z: number, c: number): number {
  const [sx, sy, sz] = b.shape;
  return Number(b.data[x + sx * (y + sy * (z + sz * c))]);
}

/** Compare a read block with the generator; voxels outside [0, size) must be 0. */
function checkBlock(b: Block, box: Box, size: number[], st: WrittenStack, tolerance = 0): void {
  const [sx, sy, sz, nc] = b.shape;
  assert.deepEqual(
    [sx, sy, sz],
    [box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2]],
  );
  let maxDiff = 0;
  for (let c = 0; c < nc; c++) {
    for (let z = 0; z < sz; z++) {
      for (let y = 0; y < sy; y++) {
        for (let x = 0; x < sx; x++) {
          const X = x + box.min[0];
          const Y = y + box.min[1];
          const Z = z + box.min[2];
          const inside = X >= 0 && Y >= 0 && Z >= 0 && X < size[0] && Y < size[1] && Z < size[2];
          const want = inside ? st.expected(X, Y, Z, c) : 0;
          const got = at(b, x, y, z, c);
          if (!inside || tolerance === 0) {
            if (got !== want)
              assert.fail(`voxel (${X},${Y},${Z}) c${c}: got ${got}, expected ${want}`);
          } else {
            maxDiff = Math.max(maxDiff, Math.abs(got - want));
          }
        }
      }
    }
  }
  assert.ok(maxDiff <= tolerance, `max difference ${maxDiff} > ${tolerance}`);
}

const whole = (size: number[]): Box => ({ min: [0, 0, 0], max: [size[0], size[1], size[2]] });

function rejectsWith(code: Parameters<typeof isVoxportError>[1], ...patterns: (string | RegExp)[]) {
  return (e: unknown) => {
    assert.ok(isVoxportError(e, code), `expected VoxportError ${code}, got ${String(e)}`);
    for (const p of patterns) {
      if (typeof p === "string")
        assert.ok(e.message.includes(p), `"${e.message}" should mention ${p}`);
      else assert.match(e.message, p);
    }
    return true;
  };
}

describe("openImageStack: data types and formats", () => {
  it("uint8 greyscale PNG", async () => {
    const { dir, st } = await stack({
      width: 37,
      height: 23,
      depth: 4,
      dtype: "uint8",
      format: "png",
    });
    const src = await openImageStack(dir);
    assert.deepEqual(src.size, [37, 23, 4]);
    assert.equal(src.dtype, "uint8");
    assert.equal(src.channels, 1);
    assert.equal(src.resolution, undefined);
    checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st);
    // Full-width boxes take the one-copy-per-slice path.
    for (const box of [
      { min: [0, -2, 1], max: [37, 10, 3] },
      { min: [0, 20, 3], max: [37, 26, 6] },
    ] as Box[]) {
      checkBlock(await src.read(box), box, src.size, st);
    }
  });

  it("uint16 greyscale PNG keeps all 16 bits (values > 255, odd values)", async () => {
    const { dir, st } = await stack({
      width: 40,
      height: 30,
      depth: 3,
      dtype: "uint16",
      format: "png",
    });
    // The fixture really is a 16-bit greyscale PNG: IHDR bit depth 16, colour type 0.
    const png = await readFile(st.files[0]);
    assert.equal(png[24], 16);
    assert.equal(png[25], 0);
    const src = await openImageStack(dir);
    assert.equal(src.dtype, "uint16");
    assert.equal(src.channels, 1);
    const b = await src.read(whole(src.size));
    checkBlock(b, whole(src.size), src.size, st);
    const values = [...(b.data as Uint16Array)];
    assert.ok(
      values.some((v) => v > 255 && v % 2 === 1 && v % 256 !== 0),
      "odd values above 255",
    );
    assert.ok(Math.max(...values) > 30000);
  });

  it("RGB PNG → 3 planar channels", async () => {
    const { dir, st } = await stack({
      width: 21,
      height: 17,
      depth: 3,
      dtype: "rgb",
      format: "png",
    });
    const src = await openImageStack(dir);
    assert.equal(src.channels, 3);
    assert.equal(src.dtype, "uint8");
    const box: Box = { min: [2, 1, 0], max: [19, 16, 3] };
    const b = await src.read(box);
    assert.deepEqual(b.shape, [17, 15, 3, 3]);
    checkBlock(b, box, src.size, st);
  });

  for (const dtype of ["uint8", "uint16", "rgb"] as const) {
    it(`${dtype} TIFF`, async () => {
      const { dir, st } = await stack({ width: 33, height: 18, depth: 3, dtype, format: "tif" });
      const src = await openImageStack(dir);
      checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st);
    });
  }

  it("BigTIFF and tiled TIFF (the truncation check reads their strip/tile tables)", async () => {
    const dir = join(root, `tiff${counter++}`);
    await mkdir(dir);
    const w = 130;
    const h = 70;
    const px = new Uint16Array(w * h);
    for (let i = 0; i < px.length; i++) px[i] = Math.imul(i, 2654435761) >>> 16;
    const variants = [
      { bigtiff: true, compression: "lzw" },
      { tile: true, tileWidth: 32, tileHeight: 32, compression: "deflate" },
      { bigtiff: true, tile: true, tileWidth: 64, tileHeight: 16, compression: "deflate" },
    ] as const;
    for (const [i, opts] of variants.entries()) {
      const file = join(dir, `v${i}.tif`);
      await sharp(px, { raw: { width: w, height: h, channels: 1 } })
        .toColourspace("grey16")
        .tiff(opts)
        .toFile(file);
      const src = await openImageStack(file);
      const b = await src.read(whole(src.size));
      assert.deepEqual([...b.data], [...px], JSON.stringify(opts));
    }
  });

  it("uint32 labels TIFF (32-bit, values above 2^31)", async () => {
    const { dir, st } = await stack({
      width: 50,
      height: 40,
      depth: 6,
      dtype: "uint32-labels",
      format: "tif",
    });
    const src = await openImageStack(dir);
    assert.equal(src.dtype, "uint32");
    const b = await src.read(whole(src.size));
    checkBlock(b, whole(src.size), src.size, st);
    assert.ok([...(b.data as Uint32Array)].some((v) => v > 2 ** 31));
  });

  it("uint16 labels PNG", async () => {
    const { dir, st } = await stack({
      width: 30,
      height: 30,
      depth: 5,
      dtype: "uint16-labels",
      format: "png",
    });
    const src = await openImageStack(dir);
    checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st);
  });

  it("JPEG (lossy: close to the generator)", async () => {
    for (const dtype of ["uint8", "rgb"] as const) {
      const { dir, st } = await stack({ width: 48, height: 32, depth: 2, dtype, format: "jpg" });
      const src = await openImageStack(dir);
      assert.equal(src.channels, dtype === "rgb" ? 3 : 1);
      checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st, 16);
    }
  });

  it("ignores an embedded ICC profile (stored values, no colour conversion)", async () => {
    const dir = join(root, `icc${counter++}`);
    await mkdir(dir);
    const w = 16;
    const h = 8;
    const px = new Uint8Array(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37) & 255;
    const plain = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    const withP3 = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .withIccProfile("p3")
      .png()
      .toBuffer();
    // Copy the iCCP chunk (length, type, data, CRC) into the plain PNG right after IHDR.
    const at = withP3.indexOf("iCCP") - 4;
    const chunk = withP3.subarray(at, at + 12 + withP3.readUInt32BE(at));
    const file = join(dir, "p3.png");
    await writeFile(file, Buffer.concat([plain.subarray(0, 33), chunk, plain.subarray(33)]));
    assert.equal((await sharp(file).metadata()).hasProfile, true);
    const src = await openImageStack(file);
    const b = await src.read(whole(src.size));
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < w * h; i++) assert.equal(b.data[c * w * h + i], px[3 * i + c]);
    }
  });

  it("drops alpha (grey+alpha and RGBA)", async () => {
    const dir = join(root, `alpha${counter++}`);
    await mkdir(dir);
    const w = 5;
    const h = 4;
    const ga = new Uint8Array(w * h * 2);
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      ga[2 * i] = i * 3;
      ga[2 * i + 1] = i % 2 === 0 ? 0 : 255;
      for (let c = 0; c < 3; c++) rgba[4 * i + c] = i * 3 + c * 50;
      rgba[4 * i + 3] = i * 10;
    }
    await sharp(ga, { raw: { width: w, height: h, channels: 2 } })
      .toColourspace("b-w")
      .png()
      .toFile(join(dir, "a.png"));
    const grey = await openImageStack(join(dir, "a.png"));
    assert.equal(grey.channels, 1);
    const gb = await grey.read(whole(grey.size));
    assert.deepEqual(
      [...gb.data],
      Array.from({ length: w * h }, (_, i) => i * 3),
    );
    await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
      .png()
      .toFile(join(dir, "b.png"));
    const rgb = await openImageStack(join(dir, "b.png"));
    assert.equal(rgb.channels, 3);
    const rb = await rgb.read(whole(rgb.size));
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < w * h; i++) assert.equal(rb.data[c * w * h + i], i * 3 + c * 50);
    }
  });
});

describe("openImageStack: ordering", () => {
  it("natural sort of file names (s2 before s10)", async () => {
    const { dir, st } = await stack({
      width: 8,
      height: 6,
      depth: 12,
      dtype: "uint8",
      format: "png",
      pattern: "s%d.png",
    });
    const src = await openImageStack(dir);
    assert.deepEqual(
      src.slices.map((s) => s.name),
      Array.from({ length: 12 }, (_, z) => `s${z}.png`),
    );
    checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st);
  });

  it("z from a regex capture", async () => {
    // File z numbers 5..14; names sort differently as plain strings and naturally.
    const { dir, st } = await stack({
      width: 9,
      height: 7,
      depth: 10,
      dtype: "uint16",
      format: "png",
      pattern: (n) => `c${(7 * n) % 5}_z${n + 5}_.png`,
    });
    const src = await openImageStack(dir, { zRegex: "_z(?<z>\\d+)_" });
    assert.deepEqual(
      src.slices.map((s) => s.z),
      [5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
    );
    checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st);
  });

  it("printf pattern; a gap is an error naming the missing file", async () => {
    const { dir, st } = await stack({
      width: 6,
      height: 5,
      depth: 6,
      dtype: "uint8",
      format: "png",
      pattern: "sec%04d.png",
      zStart: 10,
    });
    const src = await openImageStack(join(dir, "sec%04d.png"));
    assert.deepEqual(src.size, [6, 5, 6]);
    checkBlock(await src.read(whole(src.size)), whole(src.size), src.size, st);
    const same = await openImageStack(dir, { pattern: "sec%04d.png" });
    assert.equal(same.size[2], 6);
    await unlink(st.files[3]);
    await assert.rejects(
      openImageStack(join(dir, "sec%04d.png")),
      rejectsWith("INVALID_SOURCE", "sec0013.png"),
    );
  });

  it("glob input", async () => {
    const { dir } = await stack({
      width: 6,
      height: 5,
      depth: 4,
      dtype: "uint8",
      format: "png",
      pattern: "a_%d.png",
    });
    await writeStack(dir, {
      width: 6,
      height: 5,
      depth: 2,
      dtype: "uint8",
      format: "png",
      pattern: "b_%d.png",
    });
    const src = await openImageStack(join(dir, "a_*.png"));
    assert.equal(src.size[2], 4);
  });
});

describe("openImageStack: errors", () => {
  it("mixed sizes → INVALID_SOURCE naming the file and what differs", async () => {
    const { dir } = await stack({ width: 20, height: 10, depth: 3, dtype: "uint8", format: "png" });
    await writeStack(dir, {
      width: 21,
      height: 10,
      depth: 1,
      dtype: "uint8",
      format: "png",
      pattern: "slice_%04d.png",
      zStart: 3,
    });
    await assert.rejects(
      openImageStack(dir),
      rejectsWith("INVALID_SOURCE", "slice_0003.png", "slice_0000.png", /size 21x10 vs 20x10/),
    );
  });

  it("mixed bit depth and channel count → INVALID_SOURCE", async () => {
    const { dir } = await stack({ width: 8, height: 8, depth: 2, dtype: "uint8", format: "png" });
    await writeStack(dir, {
      width: 8,
      height: 8,
      depth: 1,
      dtype: "uint16",
      format: "png",
      pattern: "slice_%04d.png",
      zStart: 2,
    });
    await assert.rejects(
      openImageStack(dir),
      rejectsWith("INVALID_SOURCE", "slice_0002.png", /uint16 vs uint8/),
    );
    const b = await stack({ width: 8, height: 8, depth: 2, dtype: "uint8", format: "png" });
    await writeStack(b.dir, {
      width: 8,
      height: 8,
      depth: 1,
      dtype: "rgb",
      format: "png",
      pattern: "slice_%04d.png",
      zStart: 2,
    });
    await assert.rejects(
      openImageStack(b.dir),
      rejectsWith("INVALID_SOURCE", "slice_0002.png", /3 channel\(s\) vs 1/),
    );
  });

  it("truncated PNG, JPEG and TIFF → INVALID_SOURCE naming the file", async () => {
    const png = await stack({ width: 30, height: 20, depth: 3, dtype: "uint8", format: "png" });
    await truncate(png.st.files[1], (await readFile(png.st.files[1])).length - 20);
    await assert.rejects(
      openImageStack(png.dir),
      rejectsWith("INVALID_SOURCE", png.st.files[1], /truncated PNG/),
    );

    const jpg = await stack({ width: 30, height: 20, depth: 2, dtype: "uint8", format: "jpg" });
    await truncate(jpg.st.files[1], (await readFile(jpg.st.files[1])).length - 100);
    await assert.rejects(openImageStack(jpg.dir), rejectsWith("INVALID_SOURCE", jpg.st.files[1]));

    const tif = await stack({
      width: 30,
      height: 20,
      depth: 2,
      dtype: "uint32-labels",
      format: "tif",
    });
    await truncate(tif.st.files[0], (await readFile(tif.st.files[0])).length - 7);
    await assert.rejects(
      openImageStack(tif.dir),
      rejectsWith("INVALID_SOURCE", tif.st.files[0], /truncated TIFF/),
    );
  });

  it("multi-page TIFF → UNSUPPORTED (never silently only the first page)", async () => {
    const dir = join(root, `multipage${counter++}`);
    await mkdir(dir);
    const file = join(dir, "hyperstack.tif");
    await sharp(new Uint8Array(10 * 18), {
      raw: { width: 10, height: 18, channels: 1, pageHeight: 6 },
    })
      .toColourspace("b-w")
      .tiff({ compression: "lzw" })
      .toFile(file);
    await assert.rejects(openImageStack(dir), rejectsWith("UNSUPPORTED", file, /3 pages/));
  });

  it("not an image → INVALID_SOURCE naming the file", async () => {
    const { dir } = await stack({ width: 8, height: 8, depth: 2, dtype: "uint8", format: "png" });
    await writeFile(join(dir, "slice_0002.png"), "not a png");
    await assert.rejects(openImageStack(dir), rejectsWith("INVALID_SOURCE", "slice_0002.png"));
  });

  it("empty folder, nothing matched, missing folder", async () => {
    const empty = join(root, `empty${counter++}`);
    await mkdir(empty);
    await assert.rejects(openImageStack(empty), rejectsWith("INVALID_SOURCE", empty));
    await assert.rejects(
      openImageStack(join(empty, "*.tif")),
      rejectsWith("INVALID_SOURCE", "*.tif"),
    );
    await assert.rejects(
      openImageStack(join(empty, "s%03d.png")),
      rejectsWith("INVALID_SOURCE", "s%03d.png"),
    );
    await assert.rejects(
      openImageStack(join(root, "does-not-exist")),
      rejectsWith("NOT_FOUND", "does-not-exist"),
    );
  });

  it("a slice corrupted after open fails the read that touches it, naming the file", async () => {
    const { dir, st } = await stack({
      width: 64,
      height: 48,
      depth: 5,
      dtype: "uint8",
      format: "png",
    });
    const src = await openImageStack(dir);
    const bytes = await readFile(st.files[4]);
    const idat = bytes.indexOf("IDAT");
    for (let i = idat + 8; i < idat + 40; i++) bytes[i] ^= 0x5a;
    await writeFile(st.files[4], bytes);
    // Only slices with z in the box are decoded, so z < 4 still reads.
    const ok: Box = { min: [0, 0, 0], max: [64, 48, 4] };
    checkBlock(await src.read(ok), ok, src.size, st);
    await assert.rejects(src.read(whole(src.size)), rejectsWith("INVALID_SOURCE", st.files[4]));
  });

  it("abort signal", async () => {
    const { dir } = await stack({ width: 8, height: 8, depth: 2, dtype: "uint8", format: "png" });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(openImageStack(dir, { signal: ac.signal }), rejectsWith("ABORTED"));
    const src = await openImageStack(dir);
    await assert.rejects(src.read(whole(src.size), { signal: ac.signal }), rejectsWith("ABORTED"));
  });
});

describe("ImageStackSource.read boxes", () => {
  it("boxes partly or fully outside the volume read zeros there", async () => {
    const { dir, st } = await stack({
      width: 25,
      height: 19,
      depth: 7,
      dtype: "rgb",
      format: "png",
    });
    const src = await openImageStack(dir);
    const boxes: Box[] = [
      { min: [-5, -3, -2], max: [10, 8, 3] },
      { min: [20, 15, 5], max: [32, 24, 9] },
      { min: [-4, -4, -4], max: [30, 25, 12] },
      { min: [3, 4, 5], max: [4, 5, 6] },
      { min: [30, 0, 0], max: [40, 10, 2] },
      { min: [0, 0, 7], max: [25, 19, 8] },
    ];
    for (const box of boxes) checkBlock(await src.read(box), box, src.size, st);
    const empty = await src.read({ min: [3, 3, 3], max: [3, 9, 9] });
    assert.deepEqual(empty.shape, [0, 6, 6, 3]);
    await assert.rejects(
      src.read({ min: [5, 0, 0], max: [4, 1, 1] }),
      rejectsWith("INVALID_ARGUMENT"),
    );
  });
});
