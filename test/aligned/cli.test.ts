/**
 * `voxport ingest` with aligned sections: ChunkFlow task JSON (`--task`), and bad input that must
 * stop before anything is written, with one error naming the file and line.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Vec3 } from "../../src/ops/array.js";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { openStore } from "../../src/storage/registry.js";
import { type CliResult, runCli } from "../helpers/cli.js";
import { image, renderSection, writePng } from "./scene.js";

let tmp: string;
let reg: string;
/** [off_x, off_y, width, height] of the registry's sections, z = 0, 1, 2. */
const SPECS: Array<[number, number, number, number]> = [
  [-30, -12, 90, 70],
  [5, 0, 80, 75],
  [-10, 20, 96, 60],
];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-aligned-cli-"));
  reg = join(tmp, "stack");
  await mkdir(reg);
  const lines: string[] = [];
  for (let z = 0; z < SPECS.length; z++) {
    const [ox, oy, w, h] = SPECS[z];
    const px = renderSection((X, Y) => image(X, Y, z), [1, 0, 0, 1, ox, oy], w, h, "uint8");
    await writePng(join(reg, `1,${z + 1}_finished.png`), px, w, h);
    lines.push(`1,${z + 1}_finished\t0\t${ox}\t${oy}\t${w}\t${h}\ttrue`);
  }
  await writeFile(join(reg, "registry.txt"), `${lines.join("\n")}\n`);
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The registry's global voxel (X, Y, z): what the ingest must reproduce. */
function registryVoxel(X: number, Y: number, z: number): number {
  const s = SPECS[z];
  if (!s) return 0;
  const [ox, oy, w, h] = s;
  return X >= ox && X < ox + w && Y >= oy && Y < oy + h
    ? Math.round(image(X + 0.5, Y + 0.5, z))
    : 0;
}

function taskJson(params: Record<string, unknown>, registerFile: string) {
  return {
    input: {
      kind: "cutoutchunk",
      params: { bigArrayType: "aligned", ...params },
      inputs: { registerFile },
      outputs: { data: "img" },
    },
    blend2cloud: {
      kind: "blendchunk",
      params: { backend: "gs" },
      inputs: { chunk: "img" },
      outputs: { path: "gs://neuroglancer/example/image/4_4_40/" },
    },
  };
}

function assertRefused(r: CliResult, dest: string, re: RegExp): void {
  assert.equal(r.code, 2, `exit code 2 expected; stderr:\n${r.stderr}`);
  assert.match(r.stderr, re);
  assert.equal(existsSync(dest), false, `${dest} must not be created`);
}

describe("voxport ingest with aligned sections", () => {
  test("--task FILE: origin/cutoutSize → box, offset → voxel_offset, voxelSize → resolution", async () => {
    const task = join(tmp, "ingest2fs.json");
    // 1-based origin (-19, -5, 2) = 0-based (-20, -6, 1); the cutout lands 100 voxels further in x.
    await writeFile(
      task,
      JSON.stringify(
        taskJson(
          {
            origin: [-19, -5, 2],
            cutoutSize: [64, 48, 2],
            offset: [100, 0, 0],
            voxelSize: [4, 4, 40],
            nonzeroRatioThreshold: 0.01,
          },
          "stack",
        ),
      ),
    );
    const dest = join(tmp, "out-task");
    // SOURCE omitted: the task's registerFile (relative to the task file) names it.
    const r = await runCli(["ingest", "--task", task, dest, "--workers", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /blend2cloud \(blendchunk\) ignored/);
    const vol = await PrecomputedVolume.open(openStore(dest));
    const s = vol.info.scales[0];
    assert.deepEqual(s.resolution, [4, 4, 40]);
    assert.deepEqual(s.voxel_offset, [80, -6, 1]);
    assert.deepEqual(s.size, [64, 48, 2]);
    const min = s.voxel_offset as Vec3;
    const block = await vol.read(0, { min, max: [min[0] + 64, min[1] + 48, min[2] + 2] });
    let nonzero = 0;
    for (let k = 0; k < 2; k++) {
      for (let j = 0; j < 48; j++) {
        for (let i = 0; i < 64; i++) {
          const got = Number(block.data[i + 64 * (j + 48 * k)]);
          const want = registryVoxel(-20 + i, -6 + j, 1 + k);
          if (got !== want)
            assert.fail(`(${i}, ${j}, ${k}) of the cutout: got ${got}, want ${want}`);
          if (want) nonzero++;
        }
      }
    }
    assert.ok(nonzero > 2000, `the cutout overlaps the sections (${nonzero} nonzero voxels)`);
  });

  test("--task conflicts and unknown fields are refused naming the field; nothing written", async () => {
    const good = { origin: [1, 1, 1], cutoutSize: [32, 32, 2], voxelSize: [4, 4, 40] };
    const conflict = join(tmp, "conflict.json");
    await writeFile(conflict, JSON.stringify(taskJson(good, reg)));
    const unknown = join(tmp, "unknown.json");
    await writeFile(unknown, JSON.stringify(taskJson({ ...good, cutoutsize: [1, 1, 1] }, reg)));
    const other = join(tmp, "other-source.json");
    await writeFile(other, JSON.stringify(taskJson(good, reg)));
    const [a, b, c] = await Promise.all([
      runCli(["ingest", "--task", conflict, join(tmp, "no-1"), "--resolution", "8,8,40"]),
      runCli(["ingest", "--task", unknown, join(tmp, "no-2")]),
      runCli(["ingest", "--task", other, join(tmp, "elsewhere"), join(tmp, "no-3")]),
    ]);
    assertRefused(
      a,
      join(tmp, "no-1"),
      /conflict\.json: params\.voxelSize 4,4,40 conflicts with --resolution 8,8,40/,
    );
    assertRefused(b, join(tmp, "no-2"), /unknown\.json: input\.params\.cutoutsize: unknown field/);
    assertRefused(
      c,
      join(tmp, "no-3"),
      /other-source\.json: inputs\.registerFile .* conflicts with SOURCE/,
    );
  });

  test("bad input: missing section file, malformed affine, wrong field count, size mismatch, broken HDF5", async () => {
    const dir = join(tmp, "bad");
    await mkdir(dir);
    const line = (z: number) => {
      const [ox, oy, w, h] = SPECS[z];
      return `../stack/1,${z + 1}_finished\t0\t${ox}\t${oy}\t${w}\t${h}\ttrue`;
    };
    await writeFile(
      join(dir, "missing.txt"),
      `${line(0)}\n1,9_finished\t0\t0\t0\t10\t10\ttrue\n${line(2)}\n`,
    );
    await writeFile(
      join(dir, "sections.jsonl"),
      `{"z": 0, "file": "../stack/1,1_finished.png"}\n{"z": 1, "file": "../stack/1,2_finished.png", "affine": [1, 0, 0, 1, 5]}\n`,
    );
    await writeFile(join(dir, "fields.txt"), `${line(0)}\n1,2_finished 5 0 80 true\n`);
    await writeFile(join(dir, "size.txt"), `${line(0).replace("\t90\t", "\t91\t")}\n`);
    await writeFile(join(dir, "broken.h5"), "this is not HDF5");
    await writeFile(join(dir, "h5.txt"), "broken 0 0 0 10 10 true\n");
    const cases: Array<[string, RegExp]> = [
      [
        "missing.txt",
        /missing\.txt:2: section 1,9_finished has no file in .*bad \(looked for 1,9_finished\{\.h5/,
      ],
      ["sections.jsonl", /sections\.jsonl:2: affine: an affine needs six numbers/],
      ["fields.txt", /fields\.txt:2: expected 6 fields .* got 5/],
      ["size.txt", /size\.txt:1: the registry says 91×70 but .*1,1_finished\.png is 90×70/],
      ["h5.txt", /h5\.txt:1: .*broken\.h5: not a readable HDF5 file \(file signature not found/],
    ];
    const results = await Promise.all(
      cases.map(([file], i) =>
        runCli(["ingest", join(dir, file), join(tmp, `refused-${i}`), "--resolution", "4,4,40"]),
      ),
    );
    for (let i = 0; i < cases.length; i++)
      assertRefused(results[i], join(tmp, `refused-${i}`), cases[i][1]);
  });
});
