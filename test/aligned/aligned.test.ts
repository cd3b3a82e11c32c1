/**
 * Aligned sections end to end: sections rendered from an analytic scene through known affines
 * (test/aligned/scene.ts), listed in a registry.txt or a .jsonl sections file, ingested through
 * the CLI, and the dataset compared with the scene.
 *
 * Tolerances (image, linear): the output at voxel (X, Y) is the bilinear interpolation of the
 * section at A⁻¹(X + ½, Y + ½), compared with the scene at (X + ½, Y + ½). Where no disk edge is
 * within √2·σ output pixels (σ = the largest stretch of A: the four pixels interpolated lie
 * within √2 section pixels), the scene is smooth there and the error is at most the bilinear bound
 * (max|f_uu| + max|f_vv|)/8 (scene.ts interpolationBound) plus 1: ½ for rounding the section to
 * uint8 (interpolation is a convex combination, so it does not grow) and ½ for rounding the output.
 * Near an edge the value must lie between the scene without and with the disk step, widened by the
 * smooth part's variation over that distance. Whole-pixel translations must be exact, and so must
 * labels (nearest): the output is the label at the centre of the section pixel containing
 * A⁻¹(X + ½, Y + ½), and equals the scene's label wherever no edge is within σ·√2/2.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Block, Vec3 } from "../../src/ops/array.js";
import { type Affine2, composeAffine, invertAffine } from "../../src/ops/resample.js";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { openStore } from "../../src/storage/registry.js";
import { runCli } from "../helpers/cli.js";
import { pythonMissingReason, runPython } from "../helpers/python.js";
import {
  DISK_STEP,
  edgeDistance,
  image,
  interpolationBound,
  label,
  maxStretch,
  renderSection,
  SMOOTH_GRADIENT,
  smooth,
  writePng,
  writeSectionNpy,
} from "./scene.js";

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-aligned-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface Placed {
  z: number;
  affine: Affine2;
  width: number;
  height: number;
}

/** A rotation by `deg` about (cx, cy) in the output, after `pre` (section → output). */
function rotateAbout(pre: Affine2, deg: number, cx: number, cy: number): Affine2 {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return composeAffine(pre, [c, s, -s, c, cx - c * cx + s * cy, cy - s * cx - c * cy]);
}

/** The sections of the affine tests: translation, rotation, scale, shear, a gap, a mixture. */
const AFFINE_SECTIONS: Placed[] = [
  { z: 0, affine: [1, 0, 0, 1, -20, -15], width: 190, height: 160 },
  { z: 1, affine: rotateAbout([1, 0, 0, 1, 5, 0], 30, 90, 75), width: 170, height: 150 },
  { z: 2, affine: [1.3, 0, 0, 1.3, -4.5, 2.25], width: 130, height: 110 },
  { z: 3, affine: [1, 0.15, 0.35, 1, -30, -8], width: 180, height: 150 },
  // z = 4 is missing: zeros.
  {
    z: 5,
    affine: rotateAbout(
      composeAffine([0.8, 0, 0.1, 0.75, 0, 0], [1, 0, 0, 1, 10, 12]),
      -20,
      90,
      75,
    ),
    width: 220,
    height: 200,
  },
];

async function readAll(dest: string): Promise<{ block: Block; offset: Vec3; size: Vec3 }> {
  const vol = await PrecomputedVolume.open(openStore(dest));
  const s = vol.info.scales[0];
  const offset = (s.voxel_offset ?? [0, 0, 0]) as Vec3;
  const size = s.size as Vec3;
  const max = [0, 1, 2].map((d) => offset[d] + size[d]) as Vec3;
  return { block: await vol.read(0, { min: offset, max }), offset, size };
}

async function ingest(args: string[]): Promise<void> {
  const r = await runCli(["ingest", ...args, "--workers", "2", "--chunk-size", "32,32,4"]);
  assert.equal(r.code, 0, `voxport ingest ${args.join(" ")} failed:\n${r.stderr}`);
}

/** Where output voxel (X, Y) reads section `p` (section pixel coordinates, continuous). */
function sourcePoint(p: Placed, X: number, Y: number): [number, number] {
  const inv = invertAffine(p.affine);
  const x = X + 0.5;
  const y = Y + 0.5;
  return [inv[0] * x + inv[2] * y + inv[4], inv[1] * x + inv[3] * y + inv[5]];
}

const EPS = 1e-6;

/** inside / outside the section with a margin; undefined on the boundary (rounding decides). */
function insideness(p: Placed, u: number, v: number): boolean | undefined {
  if (u < -EPS || v < -EPS || u > p.width + EPS || v > p.height + EPS) return false;
  if (u > EPS && v > EPS && u < p.width - EPS && v < p.height - EPS) return true;
  return undefined;
}

async function writeSections(
  dir: string,
  sections: Placed[],
  kind: "image" | "label",
  format: "png" | "h5",
): Promise<string[]> {
  const files: string[] = [];
  const npys: Array<{ npy: string; h5: string; chunks: number[]; gzip: boolean }> = [];
  for (const p of sections) {
    const f = kind === "image" ? image : label;
    const px = renderSection(
      (X, Y) => f(X, Y, p.z),
      p.affine,
      p.width,
      p.height,
      kind === "image" ? "uint8" : format === "png" ? "uint16" : "uint32",
    );
    const name = `s${p.z}.${format}`;
    files.push(name);
    if (format === "png") await writePng(join(dir, name), px, p.width, p.height);
    else {
      const npy = join(dir, `s${p.z}.npy`);
      await writeSectionNpy(npy, px, p.width, p.height);
      npys.push({ npy, h5: join(dir, name), chunks: [32, 48], gzip: true });
    }
  }
  if (npys.length > 0) await runPython("test/aligned/write_h5.py", { files: npys });
  return files;
}

async function writeSectionsFile(
  dir: string,
  sections: Placed[],
  files: string[],
): Promise<string> {
  const path = join(dir, "sections.jsonl");
  const lines = sections.map((p, i) =>
    JSON.stringify({ z: p.z, file: files[i], affine: [...p.affine] }),
  );
  await writeFile(path, `# z, file, affine (section → output)\n${lines.join("\n")}\n`);
  return path;
}

interface Stats {
  strict: number;
  near: number;
  zero: number;
  maxError: number;
}

/** Image (linear) check of one z against the scene; returns what it checked. */
function checkImageSlice(
  got: (X: number, Y: number) => number,
  p: Placed | undefined,
  z: number,
  offset: Vec3,
  size: Vec3,
): Stats {
  const st: Stats = { strict: 0, near: 0, zero: 0, maxError: 0 };
  for (let Y = offset[1]; Y < offset[1] + size[1]; Y++) {
    for (let X = offset[0]; X < offset[0] + size[0]; X++) {
      const v = got(X, Y);
      const at = `z ${z} (${X}, ${Y})`;
      if (!p) {
        assert.equal(v, 0, `${at}: missing section reads 0`);
        st.zero++;
        continue;
      }
      const [u, w] = sourcePoint(p, X, Y);
      const inside = insideness(p, u, w);
      if (inside === false) {
        assert.equal(v, 0, `${at}: outside the section must be 0`);
        st.zero++;
        continue;
      }
      if (inside === undefined) continue;
      const sigma = maxStretch(p.affine);
      const reach = Math.SQRT2 * sigma;
      const tol = interpolationBound(p.affine) + 1;
      const rim = u < 0.5 || w < 0.5 || u > p.width - 0.5 || w > p.height - 0.5;
      const want = image(X + 0.5, Y + 0.5, z);
      if (isWholeTranslation(p.affine)) {
        // Copied pixels: exactly the stored (rounded) scene value, edges included.
        assert.equal(v, Math.round(want), `${at}: whole-pixel translation copies exactly`);
        st.strict++;
        continue;
      }
      if (!rim && edgeDistance(X + 0.5, Y + 0.5, z) > reach + EPS) {
        const err = Math.abs(v - want);
        st.maxError = Math.max(st.maxError, err);
        assert.ok(
          err <= tol,
          `${at}: ${v} vs scene ${want.toFixed(2)} (tolerance ${tol.toFixed(2)})`,
        );
        st.strict++;
      } else {
        // Near a disk edge or the section's rim: between the scene without and with the step.
        const s = smooth(X + 0.5, Y + 0.5, z);
        const slack = SMOOTH_GRADIENT * (reach + 1) + tol;
        assert.ok(
          v >= s - slack && v <= s + DISK_STEP + slack,
          `${at}: ${v} outside [${(s - slack).toFixed(1)}, ${(s + DISK_STEP + slack).toFixed(1)}]`,
        );
        st.near++;
      }
    }
  }
  return st;
}

function isWholeTranslation(m: Affine2): boolean {
  return (
    m[0] === 1 &&
    m[1] === 0 &&
    m[2] === 0 &&
    m[3] === 1 &&
    Number.isInteger(m[4]) &&
    Number.isInteger(m[5])
  );
}

function voxelGetter(block: Block, offset: Vec3, size: Vec3, z: number) {
  return (X: number, Y: number) =>
    Number(block.data[X - offset[0] + size[0] * (Y - offset[1] + size[1] * (z - offset[2]))]);
}

describe("aligned sections", { concurrency: false }, () => {
  test("registry.txt, whole-pixel placement with negative offsets: exact, zeros around", async () => {
    const dir = join(tmp, "registry");
    await mkdir(dir);
    const specs: Array<[number, number, number, number]> = [
      [-30, -12, 150, 120],
      [5, 0, 140, 130],
      [-10, 20, 160, 100],
    ];
    // Alembic's 7-field lines, one 6-field line, a comment, CRLF and trailing spaces.
    const lines = ["# name rotation off_x off_y width height rendered"];
    for (let z = 0; z < specs.length; z++) {
      const [ox, oy, w, h] = specs[z];
      const px = renderSection((X, Y) => image(X, Y, z), [1, 0, 0, 1, ox, oy], w, h, "uint8");
      await writePng(join(dir, `1,${z + 1}_finished.png`), px, w, h);
      lines.push(
        z === 1
          ? `1,${z + 1}_finished ${ox} ${oy} ${w} ${h} true  `
          : `1,${z + 1}_finished\t0\t${ox}\t${oy}\t${w}\t${h}\ttrue`,
      );
    }
    await writeFile(join(dir, "registry.txt"), `${lines.join("\r\n")}\r\n`);
    const dest = join(tmp, "out-registry");
    await ingest([dir, dest, "--resolution", "4,4,40"]);
    const { block, offset, size } = await readAll(dest);
    assert.deepEqual(offset, [-30, -12, 0], "voxel_offset = the union's corner");
    assert.deepEqual(size, [180, 142, 3], "size = the union of the placed sections");
    for (let z = 0; z < 3; z++) {
      const [ox, oy, w, h] = specs[z];
      const got = voxelGetter(block, offset, size, z);
      for (let Y = offset[1]; Y < offset[1] + size[1]; Y++) {
        for (let X = offset[0]; X < offset[0] + size[0]; X++) {
          const inside = X >= ox && X < ox + w && Y >= oy && Y < oy + h;
          const want = inside ? Math.round(image(X + 0.5, Y + 0.5, z)) : 0;
          if (got(X, Y) !== want)
            assert.fail(`z ${z} (${X}, ${Y}): got ${got(X, Y)}, want ${want}`);
        }
      }
    }
  });

  test("sections file: translation, rotation, scale, shear (linear) match the scene", async () => {
    const dir = join(tmp, "affine-image");
    await mkdir(dir);
    const files = await writeSections(dir, AFFINE_SECTIONS, "image", "png");
    const list = await writeSectionsFile(dir, AFFINE_SECTIONS, files);
    const dest = join(tmp, "out-affine-image");
    await ingest([list, dest, "--resolution", "8,8,40"]);
    const { block, offset, size } = await readAll(dest);
    assert.deepEqual([offset[2], size[2]], [0, 6], "z from 0 to the last listed z");
    const byZ = new Map(AFFINE_SECTIONS.map((p) => [p.z, p]));
    for (let z = 0; z < 6; z++) {
      const st = checkImageSlice(voxelGetter(block, offset, size, z), byZ.get(z), z, offset, size);
      if (byZ.has(z)) {
        assert.ok(st.strict > 5000, `z ${z}: only ${st.strict} voxels checked strictly`);
        assert.ok(st.zero > 100, `z ${z}: only ${st.zero} voxels outside the section`);
      }
      if (z === 0) assert.equal(st.maxError, 0, "whole-pixel translation is exact");
    }
  });

  test("sections file with labels (--type segmentation): nearest, exact", async () => {
    const dir = join(tmp, "affine-labels");
    await mkdir(dir);
    const files = await writeSections(dir, AFFINE_SECTIONS, "label", "png");
    const list = await writeSectionsFile(dir, AFFINE_SECTIONS, files);
    const dest = join(tmp, "out-affine-labels");
    await ingest([list, dest, "--resolution", "8,8,40", "--type", "segmentation"]);
    const { block, offset, size } = await readAll(dest);
    const byZ = new Map(AFFINE_SECTIONS.map((p) => [p.z, p]));
    for (let z = 0; z < 6; z++)
      checkLabelSlice(voxelGetter(block, offset, size, z), byZ.get(z), z, offset, size);
  });

  test("HDF5 sections written by h5py: registry (Alembic layout) and per-section affines", async (t) => {
    const missing = pythonMissingReason();
    if (missing) {
      t.skip(missing);
      return;
    }
    // A registry of .h5 sections named as Alembic names them, uint8, chunked + gzip'd.
    const dir = join(tmp, "h5-registry");
    await mkdir(dir);
    const specs: Array<[number, number, number, number]> = [
      [-7, 3, 120, 90],
      [0, -25, 100, 130],
    ];
    const npys = [];
    const lines = [];
    for (let z = 0; z < specs.length; z++) {
      const [ox, oy, w, h] = specs[z];
      const px = renderSection((X, Y) => image(X, Y, z), [1, 0, 0, 1, ox, oy], w, h, "uint8");
      const npy = join(dir, `${z}.npy`);
      await writeSectionNpy(npy, px, w, h);
      npys.push({ npy, h5: join(dir, `2,${z + 1}_finished.h5`), chunks: [40, 50], gzip: true });
      lines.push(`2,${z + 1}_finished\t0\t${ox}\t${oy}\t${w}\t${h}\ttrue`);
    }
    await runPython("test/aligned/write_h5.py", { files: npys });
    await writeFile(join(dir, "registry.txt"), `${lines.join("\n")}\n`);
    const dest = join(tmp, "out-h5-registry");
    await ingest([join(dir, "registry.txt"), dest, "--resolution", "4,4,40"]);
    const { block, offset, size } = await readAll(dest);
    assert.deepEqual(offset, [-7, -25, 0]);
    assert.deepEqual(size, [120, 130, 2]);
    for (let z = 0; z < 2; z++) {
      const [ox, oy, w, h] = specs[z];
      const got = voxelGetter(block, offset, size, z);
      for (let Y = offset[1]; Y < offset[1] + size[1]; Y++) {
        for (let X = offset[0]; X < offset[0] + size[0]; X++) {
          const inside = X >= ox && X < ox + w && Y >= oy && Y < oy + h;
          const want = inside ? Math.round(image(X + 0.5, Y + 0.5, z)) : 0;
          if (got(X, Y) !== want)
            assert.fail(`h5 z ${z} (${X}, ${Y}): got ${got(X, Y)}, want ${want}`);
        }
      }
    }

    // uint32 labels in .h5 through the affines: nearest, exact.
    const ldir = join(tmp, "h5-labels");
    await mkdir(ldir);
    const files = await writeSections(ldir, AFFINE_SECTIONS, "label", "h5");
    const list = await writeSectionsFile(ldir, AFFINE_SECTIONS, files);
    const ldest = join(tmp, "out-h5-labels");
    await ingest([list, ldest, "--resolution", "8,8,40", "--type", "segmentation"]);
    const out = await readAll(ldest);
    assert.equal(out.block.dtype, "uint32");
    const byZ = new Map(AFFINE_SECTIONS.map((p) => [p.z, p]));
    for (let z = 0; z < 6; z++) {
      checkLabelSlice(
        voxelGetter(out.block, out.offset, out.size, z),
        byZ.get(z),
        z,
        out.offset,
        out.size,
      );
    }
  });
});

function checkLabelSlice(
  got: (X: number, Y: number) => number,
  p: Placed | undefined,
  z: number,
  offset: Vec3,
  size: Vec3,
): void {
  let exact = 0;
  let geometric = 0;
  for (let Y = offset[1]; Y < offset[1] + size[1]; Y++) {
    for (let X = offset[0]; X < offset[0] + size[0]; X++) {
      const v = got(X, Y);
      const at = `labels z ${z} (${X}, ${Y})`;
      if (!p) {
        assert.equal(v, 0, `${at}: missing section reads 0`);
        continue;
      }
      const [u, w] = sourcePoint(p, X, Y);
      const inside = insideness(p, u, w);
      if (inside === false) {
        assert.equal(v, 0, `${at}: outside the section must be 0`);
        continue;
      }
      // On a pixel boundary of the section, rounding decides which pixel: skip.
      const frac = (t: number) => Math.abs(t - Math.round(t));
      if (inside === undefined || frac(u) < EPS || frac(w) < EPS) continue;
      const ci = Math.floor(u) + 0.5;
      const cj = Math.floor(w) + 0.5;
      const m = p.affine;
      const want = label(m[0] * ci + m[2] * cj + m[4], m[1] * ci + m[3] * cj + m[5], z);
      if (v !== want) assert.fail(`${at}: got ${v}, want ${want} (nearest section pixel)`);
      exact++;
      if (edgeDistance(X + 0.5, Y + 0.5, z) > (maxStretch(p.affine) * Math.SQRT2) / 2 + EPS) {
        assert.equal(v, label(X + 0.5, Y + 0.5, z), `${at}: scene label`);
        geometric++;
      }
    }
  }
  if (p) assert.ok(exact > 5000 && geometric > 5000, `z ${z}: checked ${exact} / ${geometric}`);
}
