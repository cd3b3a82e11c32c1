import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { clahe } from "../../src/ops/clahe.js";
import { pythonMissingReason, runPython } from "../helpers/python.js";

/**
 * voxport's CLAHE (src/ops/clahe.ts, used by `/alignedslice` when clip-limit > 0) against
 * scikit-image's equalize_adapthist, the function emwrite called: same images, same kernel and
 * clip limit, outputs compared pixel by pixel: they must be identical (the float32 blend is
 * reproduced operation for operation).
 */

interface Case {
  name: string;
  w: number;
  h: number;
  kernel: number;
  clip: number;
  /** Include a 0 and a 255 so the image's own range is 0…255 (what emwrite pins). */
  fullRange?: boolean;
}

const CASES: Case[] = [
  {
    name: "emwrite window 4096² kernel 1024 clip 0.02",
    w: 4096,
    h: 4096,
    kernel: 1024,
    clip: 0.02,
    fullRange: true,
  },
  {
    name: "edge window 3584×2500 (not a multiple)",
    w: 3584,
    h: 2500,
    kernel: 1024,
    clip: 0.02,
    fullRange: true,
  },
  { name: "small kernel 64, clip 0.01, own range", w: 700, h: 523, kernel: 64, clip: 0.01 },
  { name: "plain AHE (clip 0)", w: 640, h: 480, kernel: 128, clip: 0 },
  { name: "strong clip 0.5, kernel larger than the image", w: 300, h: 200, kernel: 512, clip: 0.5 },
  { name: "odd kernel 75", w: 411, h: 389, kernel: 75, clip: 0.03 },
];

/** A textured scene with dark and bright areas, blobs and noise (deterministic). */
function scene(c: Case): Uint8Array {
  const img = new Uint8Array(c.w * c.h);
  let s = c.w * 31 + c.h;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) / 16777216;
  };
  for (let y = 0; y < c.h; y++) {
    for (let x = 0; x < c.w; x++) {
      const base = 40 + 60 * (x / c.w) + 30 * Math.sin(y / 37) * Math.cos(x / 53);
      const blob =
        80 *
        Math.exp(-(((x - c.w * 0.7) / (c.w * 0.1)) ** 2 + ((y - c.h * 0.3) / (c.h * 0.15)) ** 2));
      img[y * c.w + x] = Math.max(1, Math.min(254, Math.round(base + blob + 25 * (rnd() - 0.5))));
    }
  }
  if (c.fullRange) {
    img[0] = 0;
    img[c.w * c.h - 1] = 255;
  }
  return img;
}

const missing = pythonMissingReason();
let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-clahe-"));
});
after(() => rm(tmp, { recursive: true, force: true }));

describe("CLAHE against scikit-image", { skip: missing }, () => {
  test("every case: identical pixel for pixel", async (t) => {
    const inputs = new Map<string, Uint8Array>();
    const cases = [];
    for (const [i, c] of CASES.entries()) {
      const img = scene(c);
      inputs.set(c.name, img);
      await writeFile(join(tmp, `in${i}.raw`), img);
      cases.push({ ...c, input: join(tmp, `in${i}.raw`), output: join(tmp, `out${i}.raw`) });
    }
    const r = await runPython<{ skimage: string }>("test/interop/py/clahe.py", { cases });
    t.diagnostic(`scikit-image ${r.skimage}`);
    for (const [i, c] of CASES.entries()) {
      const theirs = new Uint8Array(await readFile(join(tmp, `out${i}.raw`)));
      const ours = clahe(inputs.get(c.name)!, c.w, c.h, { kernel: c.kernel, clipLimit: c.clip });
      assert.equal(ours.length, theirs.length, c.name);
      let off = 0;
      let worst = 0;
      let changed = 0;
      const input = inputs.get(c.name)!;
      for (let k = 0; k < ours.length; k++) {
        const d = Math.abs(ours[k] - theirs[k]);
        if (d) off++;
        if (d > worst) worst = d;
        if (theirs[k] !== input[k]) changed++;
      }
      t.diagnostic(`${c.name}: ${off} of ${ours.length} pixels differ, by at most ${worst}`);
      assert.ok(changed > ours.length / 2, `${c.name}: the equalisation changes the image`);
      assert.equal(off, 0, `${c.name}: ${off} pixels differ, by up to ${worst}`);
    }
  });
});
