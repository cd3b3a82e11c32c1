import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import { StagedSource, TILE } from "../../src/server/emwrite/staged.js";
import { openStore } from "../../src/storage/registry.js";
import { pythonMissingReason, runPython } from "../helpers/python.js";
import { type Running, startServer, tempDir } from "./helpers.js";

/**
 * `/alignedslice` with CLAHE on a canvas of 2 × 2 CLAHE tiles: the staged tiles must equal what
 * scikit-image gives when run the way emwrite ran it (test/interop/py/clahe.py, "tiled") on the
 * canvas that the same request without CLAHE stages. Whole-pixel translation keeps the section's
 * 0 and 255 pixels exact, so every window holds both and emwrite's range pinning is moot.
 */

const W = 5000;
const H = 3700;
const SW = 4900;
const SH = 3650;
const missing = pythonMissingReason();
let root: string;
let srv: Running;

async function canvas(tmpBucket: string): Promise<Uint8Array> {
  const src = new StagedSource(openStore(join(root, tmpBucket)), W, H, 0, 0);
  const out = new Uint8Array(W * H);
  for (let ty = 0; ty * TILE < H; ty++) {
    for (let tx = 0; tx * TILE < W; tx++) {
      const t = await src.tile(0, tx, ty);
      for (let j = 0; j < TILE && ty * TILE + j < H; j++) {
        const row = t.subarray(j * TILE, j * TILE + Math.min(TILE, W - tx * TILE));
        out.set(row, (ty * TILE + j) * W + tx * TILE);
      }
    }
  }
  return out;
}

before(async () => {
  root = await tempDir("clahe");
  await mkdir(join(root, "lab", "raw"), { recursive: true });
  // Dark and bright areas with texture; a 255 dot every 250 pixels; no zeros inside.
  const px = Buffer.alloc(SW * SH);
  for (let y = 0; y < SH; y++) {
    for (let x = 0; x < SW; x++) {
      const v = 70 + 50 * Math.sin(x / 400) * Math.cos(y / 300) + ((x * 13 + y * 7) % 29);
      px[y * SW + x] = x % 250 === 5 && y % 250 === 5 ? 255 : Math.max(1, Math.round(v));
    }
  }
  await sharp(px, { raw: { width: SW, height: SH, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(join(root, "lab", "raw", "s.png"));
  srv = await startServer({
    allow: [pathToFileURL(root).href],
    bucketBase: `${pathToFileURL(root).href}/`,
  });
});

after(async () => {
  await srv?.close();
  await rm(root, { recursive: true, force: true });
});

const body = (tmp: string, clip?: number) => ({
  img: "raw/s.png",
  transform: [1, 0, 0, 1, 37, 21],
  bbox: [W, H],
  dest: "lab",
  "dest-tmp": tmp,
  slice: 0,
  ...(clip === undefined ? {} : { "clip-limit": clip }),
});

test(
  "CLAHE (emwrite's default clip-limit) equals scikit-image run emwrite's way",
  { skip: missing },
  async (t) => {
    const plain = await srv.post("/alignedslice", body("lab_plain", 0));
    assert.equal(plain.status, 200, await plain.text());
    const started = performance.now();
    const eq = await srv.post("/alignedslice", body("lab_eq")); // no clip-limit: 0.02
    assert.equal(eq.status, 200, await eq.text());
    t.diagnostic(
      `alignedslice with CLAHE, ${W}×${H}: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const input = await canvas("lab_plain");
    const ours = await canvas("lab_eq");
    await writeFile(join(root, "canvas.raw"), input);
    const r = await runPython<{ skimage: string }>("test/interop/py/clahe.py", {
      cases: [
        {
          name: "canvas",
          input: join(root, "canvas.raw"),
          w: W,
          h: H,
          kernel: 1024,
          clip: 0.02,
          tiled: true,
          output: join(root, "expected.raw"),
        },
      ],
    });
    const expected = new Uint8Array(await readFile(join(root, "expected.raw")));
    let off = 0;
    let changed = 0;
    for (let i = 0; i < ours.length; i++) {
      if (ours[i] !== expected[i]) off++;
      if (ours[i] !== input[i]) changed++;
      if (input[i] === 0) assert.equal(ours[i], 0, `pixel ${i}: zeros stay zero`);
    }
    t.diagnostic(
      `scikit-image ${r.skimage}: ${off} of ${ours.length} pixels differ; CLAHE changed ${changed}`,
    );
    assert.ok(changed > ours.length / 2, "CLAHE changed the image");
    assert.equal(off, 0);
  },
);

test("clip-limit above 1 is refused naming the field", async () => {
  const r = await srv.post("/alignedslice", body("lab_bad", 2));
  assert.equal(r.status, 400);
  assert.equal(((await r.json()) as { field: string }).field, "clip-limit");
});
