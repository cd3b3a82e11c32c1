/**
 * The TIFF reader against files written by an independent writer (tifffile, in the test venv):
 * classic and BigTIFF, both byte orders, tiled and striped, uncompressed / deflate / LZW /
 * PackBits, predictors, 8/16/32-bit integers, float32, RGB, several pages. Every file is read
 * whole and by odd sub-boxes (crossing tile edges and the volume edge) and compared voxel by
 * voxel with the array that was written. Plus files that lie about their size.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isVoxportError } from "../../src/errors.js";
import type { Block, DataType } from "../../src/ops/array.js";
import type { Box } from "../../src/ops/bbox.js";
import { openFileBytes } from "../../src/sources/bytes.js";
import { DECODE_LIMITS } from "../../src/sources/decode.js";
import { openImageStack } from "../../src/sources/image-stack.js";
import { openSource } from "../../src/sources/open.js";
import { Endian, tagSlice } from "../../src/sources/tiff/ifd.js";
import { TiffFile } from "../../src/sources/tiff/reader.js";
import { openTiff } from "../../src/sources/tiff/source.js";
import { type CaseResult, runPythonBatch, writeNpy } from "../helpers/python.js";
import { pattern } from "./pattern.js";

const skip = process.env.VOXPORT_SKIP_PYTHON === "1" ? "VOXPORT_SKIP_PYTHON=1" : false;
const SCRIPT = "test/sources/py/write_inputs.py";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "voxport-tiff-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function assertBlockEqual(got: Block, want: Block, box: Box, what: string): void {
  const [sx, sy, sz, nc] = got.shape;
  const [wx, wy, wz] = want.shape;
  assert.deepEqual(
    [sx, sy, sz],
    [0, 1, 2].map((d) => box.max[d] - box.min[d]),
  );
  for (let c = 0; c < nc; c++)
    for (let z = 0; z < sz; z++)
      for (let y = 0; y < sy; y++)
        for (let x = 0; x < sx; x++) {
          const X = x + box.min[0];
          const Y = y + box.min[1];
          const Z = z + box.min[2];
          const inside = X >= 0 && Y >= 0 && Z >= 0 && X < wx && Y < wy && Z < wz;
          const e = inside ? want.data[X + wx * (Y + wy * (Z + wz * c))] : 0;
          const g = got.data[x + sx * (y + sy * (z + sz * c))];
          if (!Object.is(Number(g), Number(e)) && !(g === e)) {
            assert.fail(`${what}: voxel (${X},${Y},${Z}) c${c}: got ${g}, expected ${e}`);
          }
        }
}

interface TiffCase {
  name: string;
  dtype: DataType;
  shape: [number, number, number, number];
  options: Record<string, unknown>;
}

const CASES: TiffCase[] = [
  { name: "u8-strips-none", dtype: "uint8", shape: [37, 29, 3, 1], options: { rowsperstrip: 5 } },
  {
    name: "u16-tiled-zlib-bigtiff",
    dtype: "uint16",
    shape: [70, 50, 4, 1],
    options: { tile: [16, 32], compression: "zlib", bigtiff: true },
  },
  {
    name: "u16-tiled-lzw-bigendian",
    dtype: "uint16",
    shape: [65, 47, 2, 1],
    options: { tile: [16, 16], compression: "lzw", byteorder: ">" },
  },
  {
    name: "u16-strips-lzw-predictor",
    dtype: "uint16",
    shape: [53, 41, 2, 1],
    options: { rowsperstrip: 7, compression: "lzw", predictor: 2 },
  },
  {
    name: "u8-strips-packbits",
    dtype: "uint8",
    shape: [40, 33, 2, 1],
    options: { rowsperstrip: 8, compression: "packbits" },
  },
  {
    name: "u32-tiled-zlib-predictor-bigendian-bigtiff",
    dtype: "uint32",
    shape: [33, 35, 2, 1],
    options: { tile: [16, 16], compression: "zlib", predictor: 2, byteorder: ">", bigtiff: true },
  },
  {
    name: "f32-tiled-zlib-floatpredictor",
    dtype: "float32",
    shape: [48, 40, 2, 1],
    options: { tile: [32, 16], compression: "zlib", predictor: 3 },
  },
  {
    name: "f32-strips-bigendian",
    dtype: "float32",
    shape: [31, 20, 2, 1],
    options: { rowsperstrip: 3, byteorder: ">" },
  },
  {
    name: "i16-tiled-none",
    dtype: "int16",
    shape: [40, 40, 2, 1],
    options: { tile: [16, 16] },
  },
  {
    name: "rgb8-tiled-zlib",
    dtype: "uint8",
    shape: [45, 34, 2, 3],
    options: { tile: [16, 16], compression: "zlib" },
  },
  {
    name: "rgb16-strips-lzw",
    dtype: "uint16",
    shape: [30, 22, 2, 3],
    options: { rowsperstrip: 4, compression: "lzw" },
  },
  {
    name: "u16-one-strip-none",
    dtype: "uint16",
    shape: [300, 200, 2, 1],
    options: { rowsperstrip: 200 },
  },
];

const BOXES = (s: [number, number, number, number]): Box[] => [
  { min: [0, 0, 0], max: [s[0], s[1], s[2]] },
  { min: [3, 5, 1], max: [Math.min(s[0], 20), Math.min(s[1], 19), s[2]] },
  { min: [-4, -3, -1], max: [s[0] + 5, s[1] + 2, s[2] + 1] },
  { min: [s[0] - 2, 1, 0], max: [s[0] + 3, 2, 1] },
  { min: [s[0] + 1, 0, 0], max: [s[0] + 4, 3, 1] },
];

describe("TIFF reader vs tifffile", { skip }, () => {
  const written = new Map<string, { path: string; block: Block; result: CaseResult }>();
  before(async () => {
    const cases = [];
    for (const c of CASES) {
      const block = pattern(c.dtype, c.shape);
      const npy = join(root, `${c.name}.npy`);
      await writeNpy(npy, block);
      const path = join(root, `${c.name}.tif`);
      cases.push({ name: c.name, npy, path, ...c.options });
      written.set(c.name, { path, block, result: { ok: false, error: "", seconds: 0 } });
    }
    const results = await runPythonBatch(SCRIPT, "tiff", cases);
    for (const [name, r] of results) (written.get(name) as { result: CaseResult }).result = r;
  });

  for (const c of CASES) {
    it(`reads ${c.name} voxel-exact, whole and by region`, async () => {
      const w = written.get(c.name);
      assert.ok(w?.result.ok, JSON.stringify(w?.result));
      const src = await openTiff(w.path);
      assert.deepEqual(src.size, c.shape.slice(0, 3));
      assert.equal(src.dtype, c.dtype);
      assert.equal(src.channels, c.shape[3]);
      for (const box of BOXES(c.shape)) {
        assertBlockEqual(await src.read(box), w.block, box, `${c.name} ${JSON.stringify(box)}`);
      }
    });
  }

  it("opens a .tif through openSource with kind tiff", async () => {
    const w = written.get("u16-tiled-zlib-bigtiff");
    assert.ok(w?.result.ok);
    const src = await openSource({ kind: "tiff", input: w.path });
    assert.deepEqual(src.size, [70, 50, 4]);
  });

  it("rejects a truncated file, naming the file, page and tile", async () => {
    const w = written.get("u16-tiled-zlib-bigtiff");
    assert.ok(w?.result.ok);
    const bad = join(root, "truncated.tif");
    const bytes = await readFile(w.path);
    // tifffile writes the data before each IFD: cutting the file keeps page 0's IFD but not its
    // data when the IFD is written after the tiles, or loses a later IFD. Either is an error.
    await writeFile(bad, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await assert.rejects(openTiff(bad), (e: unknown) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"), String(e));
      assert.match((e as Error).message, /truncated\.tif/);
      assert.match((e as Error).message, /past the end|file has \d+|lies about/);
      return true;
    });
  });

  it("rejects a header whose ImageWidth does not match its tile count", async () => {
    const w = written.get("u8-strips-none");
    assert.ok(w?.result.ok);
    const bad = join(root, "liar.tif");
    const bytes = Buffer.from(await readFile(w.path));
    // Classic little-endian TIFF: find tag 257 (ImageLength) in the first IFD, double it.
    const ifd = bytes.readUInt32LE(4);
    const n = bytes.readUInt16LE(ifd);
    let patched = false;
    for (let i = 0; i < n; i++) {
      const e = ifd + 2 + i * 12;
      if (bytes.readUInt16LE(e) === 257) {
        const type = bytes.readUInt16LE(e + 2);
        if (type === 3) bytes.writeUInt16LE(bytes.readUInt16LE(e + 8) * 4, e + 8);
        else bytes.writeUInt32LE(bytes.readUInt32LE(e + 8) * 4, e + 8);
        patched = true;
      }
    }
    assert.ok(patched);
    await writeFile(bad, bytes);
    await assert.rejects(openTiff(bad), (e: unknown) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"), String(e));
      assert.match((e as Error).message, /liar\.tif.*page 0.*strip offsets/);
      return true;
    });
  });

  it("rejects a strip offset that points past the end of the file", async () => {
    const w = written.get("u8-strips-none");
    assert.ok(w?.result.ok);
    const bad = join(root, "offset.tif");
    const bytes = Buffer.from(await readFile(w.path));
    const ifd = bytes.readUInt32LE(4);
    const n = bytes.readUInt16LE(ifd);
    for (let i = 0; i < n; i++) {
      const e = ifd + 2 + i * 12;
      if (bytes.readUInt16LE(e) === 273) {
        const at = bytes.readUInt32LE(e + 8); // several strips: the values are at an offset
        bytes.writeUInt32LE(bytes.length + 1000, at + 4); // strip 1
      }
    }
    await writeFile(bad, bytes);
    await assert.rejects(
      openTiff(bad),
      /offset\.tif: IFD 0 at byte \d+ \(page 0\): strip 1 spans bytes/,
    );
  });

  it("never holds more than the region: a 1-row read of a one-strip image reads one row", async () => {
    const w = written.get("u16-one-strip-none");
    assert.ok(w?.result.ok);
    const src = await openTiff(w.path);
    const box: Box = { min: [10, 150, 1], max: [14, 151, 2] };
    assertBlockEqual(await src.read(box), w.block, box, "one row");
    assert.ok((await stat(w.path)).size > 200_000);
  });

  it("an image stack reads large TIFF slices by region with this reader", async () => {
    // Slices above DECODE_LIMITS.ownTiffPixels go through the TIFF reader (lowered here).
    const dir = join(root, "stack");
    await mkdir(dir);
    const shape: [number, number, number, number] = [70, 50, 3, 1];
    const block = pattern("uint16", shape);
    const cases = [];
    for (let z = 0; z < 3; z++) {
      const one = {
        ...block,
        shape: [70, 50, 1, 1] as typeof shape,
        data: block.data.subarray(z * 3500, (z + 1) * 3500),
      };
      const npy = join(root, `slice${z}.npy`);
      await writeNpy(npy, one);
      cases.push({
        name: `s${z}`,
        npy,
        path: join(dir, `s${z}.tif`),
        tile: [16, 16],
        compression: "zlib",
      });
    }
    const r = await runPythonBatch(SCRIPT, "tiff", cases);
    for (const v of r.values()) assert.ok(v.ok, JSON.stringify(v));
    const saved = DECODE_LIMITS.ownTiffPixels;
    DECODE_LIMITS.ownTiffPixels = 0;
    try {
      const src = await openImageStack(dir);
      for (const box of BOXES(shape)) {
        assertBlockEqual(await src.read(box), block, box, `stack ${JSON.stringify(box)}`);
      }
      // Garbage in the last tile of slice 1: a region away from it still reads (only the
      // overlapping tiles are touched); a region over it fails naming the file and tile.
      const bytes = Buffer.from(await readFile(join(dir, "s1.tif")));
      const t = (await TiffFile.open(join(dir, "s1.tif"))).pages[0];
      const last = t.chunksAcross * t.chunksDown - 1;
      const offs = await tileOffsets(join(dir, "s1.tif"), last);
      bytes.fill(0x5a, offs.at, offs.at + offs.count);
      await writeFile(join(dir, "s1.tif"), bytes);
      const away: Box = { min: [0, 0, 0], max: [30, 20, 3] };
      assertBlockEqual(await src.read(away), block, away, "away from the broken tile");
      await assert.rejects(
        src.read({ min: [60, 40, 1], max: [70, 50, 2] }),
        /s1\.tif page 0: cannot decode tile \d+/,
      );
    } finally {
      DECODE_LIMITS.ownTiffPixels = saved;
    }
  });
});

/** Offset and byte count of tile `i` of page 0. */
async function tileOffsets(path: string, i: number): Promise<{ at: number; count: number }> {
  const file = await TiffFile.open(path);
  const src = await openFileBytes(path);
  try {
    const e = new Endian(file.littleEndian);
    const p = file.pages[0];
    const at = (await tagSlice(src, e, p.offsets, i, 1))[0];
    const count = (await tagSlice(src, e, p.byteCounts, i, 1))[0];
    return { at, count };
  } finally {
    await src.close();
  }
}
