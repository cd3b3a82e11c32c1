/**
 * NIfTI files written by an independent writer (nibabel, in the test venv) read voxel-exact —
 * compared with nibabel's own reading of the same file — with the voxel size from pixdim and
 * xyzt_units, the offset from an axis-aligned affine, 4-D as channels, scl_slope/inter applied,
 * both byte orders, .nii and .nii.gz, NIfTI-1 and -2; unsupported types fail naming the file;
 * and `voxport ingest file.nii.gz` without --resolution writes the header's voxel size.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isVoxportError } from "../../src/errors.js";
import type { Block, DataType } from "../../src/ops/array.js";
import type { Box } from "../../src/ops/bbox.js";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { openNifti } from "../../src/sources/nifti.js";
import { openStore } from "../../src/storage/registry.js";
import { runCli } from "../helpers/cli.js";
import { type CaseResult, readNpy, runPythonBatch, writeNpy } from "../helpers/python.js";
import { pattern } from "./pattern.js";

const skip = process.env.VOXPORT_SKIP_PYTHON === "1" ? "VOXPORT_SKIP_PYTHON=1" : false;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "voxport-nifti-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface NiftiCase {
  name: string;
  /** Type of the generated array (the file's type is `options.dtype`). */
  gen: DataType;
  shape: [number, number, number, number];
  file: string;
  options: Record<string, unknown>;
  /** What openNifti must report. */
  dtype: DataType;
  resolution?: [number, number, number];
  offset?: [number, number, number];
}

const CASES: NiftiCase[] = [
  {
    name: "uint8-mm",
    gen: "uint8",
    shape: [21, 17, 9, 1],
    file: "a.nii",
    options: { dtype: "uint8", zooms: [0.5, 0.25, 2] },
    dtype: "uint8",
    resolution: [500000, 250000, 2000000],
  },
  {
    name: "int16-micron-gz",
    gen: "int16",
    shape: [33, 20, 11, 1],
    file: "b.nii.gz",
    options: { dtype: "int16", zooms: [4, 4, 40], units: "micron" },
    dtype: "int16",
    resolution: [4000, 4000, 40000],
  },
  {
    name: "uint16",
    gen: "uint16",
    shape: [16, 15, 7, 1],
    file: "c.nii",
    options: { dtype: "uint16", zooms: [1, 1, 1] },
    dtype: "uint16",
  },
  {
    name: "int8",
    gen: "int8",
    shape: [10, 9, 8, 1],
    file: "d.nii.gz",
    options: { dtype: "int8" },
    dtype: "int8",
  },
  {
    name: "int32-bigendian",
    gen: "int32",
    shape: [12, 7, 5, 1],
    file: "e.nii",
    options: { dtype: "int32", big_endian: true },
    dtype: "int32",
  },
  {
    name: "uint32",
    gen: "uint32",
    shape: [9, 9, 9, 1],
    file: "f.nii",
    options: { dtype: "uint32" },
    dtype: "uint32",
  },
  {
    name: "float32-4d",
    gen: "float32",
    shape: [14, 11, 6, 3],
    file: "g.nii.gz",
    options: { dtype: "float32", zooms: [0.1, 0.1, 0.2] },
    dtype: "float32",
    resolution: [100000, 100000, 200000],
  },
  {
    name: "float64-to-float32",
    gen: "float32",
    shape: [8, 8, 8, 1],
    file: "h.nii",
    options: { dtype: "float64" },
    dtype: "float32",
  },
  {
    name: "int16-scaled",
    gen: "int16",
    shape: [13, 12, 4, 1],
    file: "i.nii",
    options: { dtype: "int16", slope: 0.5, inter: 10 },
    dtype: "float32",
  },
  {
    name: "uint16-offset-metre-nifti2",
    gen: "uint16",
    shape: [10, 10, 10, 1],
    file: "j.nii",
    options: {
      dtype: "uint16",
      nifti2: true,
      units: "meter",
      zooms: [2e-6, 2e-6, 5e-6],
      affine: [
        [2e-6, 0, 0, 2e-5],
        [0, 2e-6, 0, -1e-5],
        [0, 0, 5e-6, 1.5e-5],
        [0, 0, 0, 1],
      ],
    },
    dtype: "uint16",
    resolution: [2000, 2000, 5000],
    offset: [10, -5, 3],
  },
  {
    name: "rotated-affine-no-offset",
    gen: "uint8",
    shape: [6, 5, 4, 1],
    file: "k.nii",
    options: {
      dtype: "uint8",
      affine: [
        [-1, 0, 0, 30],
        [0, 1, 0, 40],
        [0, 0, 1, 50],
        [0, 0, 0, 1],
      ],
    },
    dtype: "uint8",
    offset: [0, 0, 0],
  },
];

function compare(got: Block, want: Block, box: Box, what: string): void {
  const [sx, sy, sz, nc] = got.shape;
  const [wx, wy, wz] = want.shape;
  assert.equal(nc, want.shape[3], `${what}: channels`);
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
          if (g !== e) assert.fail(`${what}: (${X},${Y},${Z}) c${c}: got ${g}, nibabel ${e}`);
        }
}

describe("NIfTI vs nibabel", { skip }, () => {
  const results = new Map<string, CaseResult>();
  before(async () => {
    const cases = [];
    for (const c of CASES) {
      const npy = join(root, `${c.name}.npy`);
      await writeNpy(npy, pattern(c.gen, c.shape));
      cases.push({
        name: c.name,
        npy,
        path: join(root, c.file),
        expected: join(root, `${c.name}.expected.npy`),
        ...c.options,
      });
    }
    for (const [k, v] of await runPythonBatch("test/sources/py/write_inputs.py", "nifti", cases)) {
      results.set(k, v);
    }
  });

  for (const c of CASES) {
    it(`reads ${c.name} (${c.file}) as nibabel does`, async () => {
      const r = results.get(c.name);
      assert.ok(r?.ok, JSON.stringify(r));
      const src = await openNifti(join(root, c.file));
      const want = await readNpy(join(root, `${c.name}.expected.npy`));
      assert.deepEqual(src.size, c.shape.slice(0, 3));
      assert.equal(src.channels, c.shape[3]);
      assert.equal(src.dtype, c.dtype);
      assert.equal(want.dtype, c.dtype);
      if (c.resolution) assert.deepEqual(src.resolution, c.resolution);
      if (c.offset) assert.deepEqual(src.voxelOffset, c.offset);
      const [nx, ny, nz] = c.shape;
      const boxes: Box[] = [
        { min: [0, 0, 0], max: [nx, ny, nz] },
        { min: [1, 2, 1], max: [nx - 1, ny - 3, nz] },
        { min: [-2, -1, -1], max: [nx + 3, ny + 1, nz + 2] },
        { min: [3, 0, 2], max: [5, ny, 3] },
      ];
      for (const box of boxes)
        compare(await src.read(box), want, box, `${c.name} ${JSON.stringify(box)}`);
    });
  }

  it("refuses complex and int64 data, naming the file", async () => {
    // Patch the datatype field (offset 70, int16) of a valid NIfTI-1 file.
    const good = await readFile(join(root, "c.nii"));
    for (const [code, name] of [
      [32, "complex64"],
      [1024, "int64"],
    ] as const) {
      const bad = Buffer.from(good);
      bad.writeInt16LE(code, 70);
      const path = join(root, `bad-${name}.nii`);
      await writeFile(path, bad);
      await assert.rejects(openNifti(path), (e: unknown) => {
        assert.ok(isVoxportError(e, "UNSUPPORTED"), String(e));
        assert.match((e as Error).message, new RegExp(`bad-${name}\\.nii: NIfTI datatype ${name}`));
        return true;
      });
    }
  });

  it("refuses a truncated .nii and a truncated .nii.gz, naming the file", async () => {
    const a = await readFile(join(root, "a.nii"));
    await writeFile(join(root, "short.nii"), a.subarray(0, a.length - 100));
    await assert.rejects(
      openNifti(join(root, "short.nii")),
      /short\.nii: the header describes .* \(truncated\?\)/,
    );
    const b = await readFile(join(root, "b.nii.gz"));
    await writeFile(join(root, "short.nii.gz"), b.subarray(0, Math.floor(b.length / 2)));
    const src = await openNifti(join(root, "short.nii.gz"));
    await assert.rejects(
      src.read({ min: [0, 0, 0], max: src.size }),
      /short\.nii\.gz: (cannot decompress|decompressed data ends)/,
    );
  });

  it("voxport ingest x.nii.gz: resolution and offset from the header, voxels as nibabel reads them", async () => {
    const out = join(root, "out-j");
    const r = await runCli(["ingest", join(root, "j.nii"), out, "--max-scales", "2"]);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const vol = await PrecomputedVolume.open(openStore(out));
    const s0 = vol.info.scales[0];
    assert.deepEqual(s0.resolution, [2000, 2000, 5000]);
    assert.deepEqual(s0.voxel_offset, [10, -5, 3]);
    assert.equal(vol.info.data_type, "uint16");
    const want = await readNpy(join(root, "uint16-offset-metre-nifti2.expected.npy"));
    const box: Box = { min: [10, -5, 3], max: [20, 5, 13] };
    const got = await vol.read(0, box);
    compare(got, want, { min: [0, 0, 0], max: [10, 10, 10] }, "ingested j.nii");

    const out2 = join(root, "out-g");
    const r2 = await runCli(["ingest", join(root, "g.nii.gz"), out2, "--max-scales", "1"]);
    assert.equal(r2.code, 0, r2.stderr.slice(-2000));
    const vol2 = await PrecomputedVolume.open(openStore(out2));
    assert.deepEqual(vol2.info.scales[0].resolution, [100000, 100000, 200000]);
    assert.equal(vol2.info.num_channels, 3);
    const want2 = await readNpy(join(root, "float32-4d.expected.npy"));
    const whole: Box = { min: [0, 0, 0], max: [14, 11, 6] };
    compare(await vol2.read(0, whole), want2, whole, "ingested g.nii.gz");
  });
});
