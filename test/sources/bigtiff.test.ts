/**
 * A large tiled BigTIFF (written by tifffile) ingested by the CLI in a child process: the result
 * is checked voxel by voxel on sample boxes and at the coarsest scale, and the child's peak RSS
 * must stay within the --memory budget — i.e. follow the task box, not the 800 MB section.
 *
 * Default size 4000×4000×8 (fast); VOXPORT_BIG_TIFF=1 runs the 20,000×20,000×8 uint16
 * (6.4 GB of voxels, ~265 MB deflated on disk; several minutes).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { openStore } from "../../src/storage/registry.js";
import { runCli } from "../helpers/cli.js";
import { runPythonBatch } from "../helpers/python.js";

const skip = process.env.VOXPORT_SKIP_PYTHON === "1" ? "VOXPORT_SKIP_PYTHON=1" : false;
const BIG = process.env.VOXPORT_BIG_TIFF === "1";
const W = BIG ? 20000 : 4000;
const H = BIG ? 20000 : 4000;
const D = 8;
const MEMORY = 1024 ** 3;

const value = (x: number, y: number, z: number) => (x * 7 + y * 13 + z * 1009) % 65536;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "voxport-bigtiff-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe(`BigTIFF ${W}x${H}x${D} uint16 ingest`, { skip }, () => {
  it("ingests voxel-exact with peak RSS within the memory budget", async () => {
    const path = join(root, "big.tif");
    const written = await runPythonBatch("test/sources/py/write_inputs.py", "big_tiff", [
      { name: "big", path, width: W, height: H, depth: D, tile: [512, 512], compression: "zlib" },
    ]);
    const w = written.get("big");
    assert.ok(w?.ok, JSON.stringify(w));
    const out = join(root, "out");
    const r = await runCli([
      "ingest",
      path,
      out,
      "--resolution",
      "4,4,40",
      "--memory",
      String(MEMORY),
      "--workers",
      "2",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const summary = JSON.parse(r.stdout.trim().split("\n").pop() as string);
    const peak = summary.peakRssBytes as number;
    console.log(
      `# BigTIFF ${W}x${H}x${D} uint16 (${(W * H * D * 2) / 1e9} GB of voxels, ${(w.bytes as number) / 1e6} MB file): ` +
        `ingest ${summary.seconds?.toFixed?.(1) ?? "?"} s, peak RSS ${(peak / 1024 ** 2).toFixed(0)} MiB ` +
        `(budget ${MEMORY / 1024 ** 2} MiB)`,
    );
    assert.ok(peak < MEMORY, `peak RSS ${peak} exceeds the ${MEMORY}-byte budget`);

    const vol = await PrecomputedVolume.open(openStore(out));
    assert.deepEqual(vol.info.scales[0].size, [W, H, D]);
    assert.equal(vol.info.data_type, "uint16");
    // Boxes at corners, across tile edges and at the far edge.
    const boxes: Array<[number, number, number, number]> = [
      [0, 0, 300, 200],
      [W - 257, H - 129, W, H],
      [511, 1023, 511 + 130, 1023 + 70],
      [Math.floor(W / 2) - 40, Math.floor(H / 3), Math.floor(W / 2) + 90, Math.floor(H / 3) + 33],
    ];
    for (const [x0, y0, x1, y1] of boxes) {
      const b = await vol.read(0, { min: [x0, y0, 0], max: [x1, y1, D] });
      const d = b.data as Uint16Array;
      const sx = x1 - x0;
      const sy = y1 - y0;
      for (let z = 0; z < D; z++)
        for (let y = 0; y < sy; y++)
          for (let x = 0; x < sx; x++) {
            const got = d[x + sx * (y + sy * z)];
            const want = value(x + x0, y + y0, z);
            if (got !== want) assert.fail(`(${x + x0},${y + y0},${z}): got ${got}, want ${want}`);
          }
    }
  });
});
