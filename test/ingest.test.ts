import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { Vec3 } from "../src/ops/array.js";
import { bytesPerVoxel } from "../src/ops/array.js";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { openStore } from "../src/storage/registry.js";
import { prepareIngest, runIngest } from "../src/tasks/ingest.js";
import { type StackDtype, writeStack } from "../test/fixtures/stack.js";
import { collect, runCli, startCli } from "./helpers/cli.js";
import { type RefVolume, refDownsample, refFromFunction } from "./helpers/reference.js";

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-ingest-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out.sort();
}

/** Every scale of the dataset, read back, equals the reference pyramid built in the test. */
async function checkPyramid(dest: string, ref0: RefVolume, method: "average" | "mode") {
  const vol = await PrecomputedVolume.open(openStore(dest));
  const scales = vol.info.scales;
  let ref = ref0;
  for (let j = 0; j < scales.length; j++) {
    const s = scales[j];
    if (j > 0) {
      const f = [0, 1, 2].map((d) =>
        Math.round(s.resolution[d] / scales[j - 1].resolution[d]),
      ) as Vec3;
      ref = refDownsample(ref, f, method);
    }
    assert.deepEqual(s.voxel_offset ?? [0, 0, 0], ref.origin, `scale ${j} voxel_offset`);
    assert.deepEqual(s.size, ref.shape, `scale ${j} size`);
    const min = ref.origin;
    const max = [0, 1, 2].map((d) => ref.origin[d] + ref.shape[d]) as Vec3;
    const block = await vol.read(j, { min, max });
    assert.equal(block.data.length, ref.data.length);
    for (let i = 0; i < ref.data.length; i++) {
      if (Number(block.data[i]) !== ref.data[i]) {
        assert.fail(
          `scale ${j} (${s.key}) voxel #${i}: got ${block.data[i]}, expected ${ref.data[i]}`,
        );
      }
    }
  }
  return vol;
}

const cases: Array<{
  name: string;
  dtype: StackDtype;
  format: "png" | "tif";
  size: Vec3;
  offset: Vec3;
  type: "image" | "segmentation";
  chunk: Vec3;
  extra?: string[];
}> = [
  {
    name: "uint8 png, odd size, offset",
    dtype: "uint8",
    format: "png",
    size: [150, 97, 23],
    offset: [10, -20, 3],
    type: "image",
    chunk: [32, 32, 8],
  },
  {
    name: "uint16 png",
    dtype: "uint16",
    format: "png",
    size: [70, 65, 9],
    offset: [0, 0, 0],
    type: "image",
    chunk: [16, 16, 4],
  },
  {
    name: "rgb tif",
    dtype: "rgb",
    format: "tif",
    size: [40, 33, 6],
    offset: [5, 5, 1],
    type: "image",
    chunk: [16, 16, 4],
  },
  {
    name: "uint32 labels tif",
    dtype: "uint32-labels",
    format: "tif",
    size: [66, 50, 12],
    offset: [-7, 3, 0],
    type: "segmentation",
    chunk: [16, 16, 8],
  },
  {
    name: "uint8 sharded, several shards and tasks",
    dtype: "uint8",
    format: "png",
    size: [150, 97, 23],
    offset: [10, -20, 3],
    type: "image",
    chunk: [16, 16, 8],
    extra: ["--sharded", "--shard-size", "64KiB"],
  },
  {
    name: "uint32 labels, compressed_segmentation, sharded",
    dtype: "uint32-labels",
    format: "tif",
    size: [66, 50, 12],
    offset: [0, 0, 0],
    type: "segmentation",
    chunk: [16, 16, 8],
    extra: [
      "--encoding",
      "compressed_segmentation",
      "--cseg-block-size",
      "8,8,4",
      "--sharded",
      "--shard-size",
      "32KiB",
    ],
  },
  {
    name: "uint16 png encoding",
    dtype: "uint16",
    format: "png",
    size: [70, 65, 9],
    offset: [3, 0, 0],
    type: "image",
    chunk: [16, 16, 4],
    extra: ["--encoding", "png"],
  },
];

describe("ingest round trip, every scale voxel-exact against an independent pyramid", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const tag = c.name.replace(/[^a-z0-9]+/gi, "-");
      const src = join(tmp, `src-${tag}`);
      const stack = await writeStack(src, {
        width: c.size[0],
        height: c.size[1],
        depth: c.size[2],
        dtype: c.dtype,
        format: c.format,
      });
      const dest = `file://${join(tmp, `out-${tag}`)}`;
      const r = await runCli([
        "ingest",
        src,
        dest,
        "--resolution",
        "4,4,40",
        "--offset",
        c.offset.join(","),
        "--type",
        c.type,
        "--chunk-size",
        c.chunk.join(","),
        "--memory",
        "2MiB",
        "--workers",
        "2",
        "--json",
        ...(c.extra ?? []),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.equal(summary.status, "completed");
      assert.ok(summary.chunksWritten > 0);
      const ref0 = refFromFunction(c.offset, c.size, stack.channels, stack.expected);
      const vol = await checkPyramid(dest, ref0, c.type === "segmentation" ? "mode" : "average");
      assert.ok(vol.info.scales.length >= 2, "a pyramid was built");
      assert.equal(vol.info.num_channels, stack.channels);
      assert.equal(vol.info.data_type, stack.voxelType);
      // Job state is gone once the dataset is published.
      assert.equal(existsSync(join(tmp, `out-${tag}`, ".voxport")), false);
      if (c.extra?.includes("--sharded")) {
        const files = await readdir(join(tmp, `out-${tag}`, vol.info.scales[0].key));
        assert.ok(files.length > 1 && files.every((f) => f.endsWith(".shard")), files.join(","));
        assert.ok(
          vol.info.scales.every((s) => s.sharding),
          "every scale is sharded",
        );
      }
    });
  }

  test("in-process library run with a tiny memory budget (many stages) and mem:// output", async () => {
    const src = join(tmp, "src-lib");
    const stack = await writeStack(src, {
      width: 64,
      height: 64,
      depth: 16,
      dtype: "uint8",
      format: "png",
      seed: 3,
    });
    const prepared = await prepareIngest({
      source: src,
      destination: "mem://lib-run",
      resolution: [8, 8, 8],
      chunkSize: [8, 8, 8],
      memoryBytes: 4096,
      workers: 0,
    });
    assert.ok(prepared.job.stages.length > 1, "a small budget splits the pyramid into stages");
    const s = await runIngest(prepared);
    assert.equal(s.status, "completed");
    await checkPyramid(
      "mem://lib-run",
      refFromFunction([0, 0, 0], [64, 64, 16], 1, stack.expected),
      "average",
    );
  });
});

describe("output follows Neuroglancer's rules (precomputed-format.md §9)", () => {
  test("info and chunk files", async () => {
    const src = join(tmp, "src-ng");
    await writeStack(src, { width: 100, height: 70, depth: 5, dtype: "uint16", format: "png" });
    const out = join(tmp, "out-ng");
    const r = await runCli([
      "ingest",
      src,
      out,
      "--resolution",
      "8,8,40",
      "--offset",
      "10,20,3",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const infoText = await readFile(join(out, "info"), "utf8");
    assert.ok(!infoText.includes("null"), "no null values");
    const info = JSON.parse(infoText);
    assert.equal(info["@type"], "neuroglancer_multiscale_volume");
    assert.equal(Object.keys(info)[0], "@type");
    for (const s of info.scales) {
      assert.ok(
        Array.isArray(s.chunk_sizes) && Array.isArray(s.chunk_sizes[0]),
        "chunk_sizes is nested",
      );
      assert.equal(s.compressed_segmentation_block_size, undefined);
      assert.equal(s.sharding, undefined);
      assert.match(s.key, /^\d+(\.\d+)?_\d+(\.\d+)?_\d+(\.\d+)?$/, "key has no trailing .0");
    }
    assert.equal(info.scales[0].key, "8_8_40");
    // Every chunk file: clipped name, clipped byte count once gunzipped.
    const s0 = info.scales[0];
    const files = (await readdir(join(out, s0.key))).sort();
    assert.deepEqual(files, [
      "10-74_20-84_3-8.gz",
      "10-74_84-90_3-8.gz",
      "74-110_20-84_3-8.gz",
      "74-110_84-90_3-8.gz",
    ]);
    const sizes: Record<string, number> = {
      "10-74_20-84_3-8": 64 * 64 * 5,
      "74-110_20-84_3-8": 36 * 64 * 5,
      "10-74_84-90_3-8": 64 * 6 * 5,
      "74-110_84-90_3-8": 36 * 6 * 5,
    };
    for (const f of files) {
      const raw = gunzipSync(await readFile(join(out, s0.key, f)));
      assert.equal(raw.length, sizes[f.replace(/\.gz$/, "")] * bytesPerVoxel("uint16"), f);
    }
  });

  test("--compress none writes plain chunk files", async () => {
    const src = join(tmp, "src-plain");
    await writeStack(src, { width: 40, height: 40, depth: 4, dtype: "uint8", format: "png" });
    const out = join(tmp, "out-plain");
    const r = await runCli(["ingest", src, out, "--resolution", "4,4,4", "--compress", "none"]);
    assert.equal(r.code, 0, r.stderr);
    const all = await listFiles(out);
    assert.ok(all.every((f) => !f.endsWith(".gz")));
    assert.ok(all.some((f) => f.endsWith("0-40_0-40_0-4")));
  });
});

describe("bad input: one clear error, non-zero exit, nothing written", () => {
  async function expectFailure(args: string[], pattern: RegExp, dest?: string, code = 2) {
    const r = await runCli(args);
    assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(
      r.stderr.split("\n").filter((l) => l.startsWith("voxport: error")).length,
      1,
      r.stderr,
    );
    if (dest) assert.equal(existsSync(dest), false, "no dataset folder was created");
  }

  test("empty folder", async () => {
    const src = join(tmp, "empty");
    await mkdir(src);
    const dest = join(tmp, "out-empty");
    await expectFailure(["ingest", src, dest, "--resolution", "4,4,40"], /empty/, dest);
  });

  test("mixed slice sizes names the file", async () => {
    const src = join(tmp, "mixed");
    await writeStack(src, { width: 32, height: 32, depth: 3, dtype: "uint8", format: "png" });
    await writeStack(src, {
      width: 40,
      height: 32,
      depth: 1,
      dtype: "uint8",
      format: "png",
      zStart: 9999,
    });
    const dest = join(tmp, "out-mixed");
    await expectFailure(["ingest", src, dest, "--resolution", "4,4,40"], /slice_9999\.png/, dest);
  });

  test("truncated PNG names the file", async () => {
    const src = join(tmp, "trunc");
    const st = await writeStack(src, {
      width: 64,
      height: 64,
      depth: 4,
      dtype: "uint8",
      format: "png",
    });
    const victim = st.files[2];
    await truncate(victim, Math.floor((await stat(victim)).size / 2));
    const dest = join(tmp, "out-trunc");
    await expectFailure(
      ["ingest", src, dest, "--resolution", "4,4,40"],
      new RegExp(relative(tmp, victim).split("/").pop()!.replace(".", "\\.")),
      dest,
    );
  });

  test("unknown flag", async () => {
    await expectFailure(
      ["ingest", "a", "b", "--resolution", "1,1,1", "--frobnicate"],
      /unknown option '--frobnicate'/,
    );
  });

  test("bad --resolution", async () => {
    await expectFailure(
      ["ingest", "a", "b", "--resolution", "4,4"],
      /--resolution must be three numbers/,
    );
  });

  test("unwritable destination", async () => {
    const src = join(tmp, "src-unwritable");
    await writeStack(src, { width: 16, height: 16, depth: 2, dtype: "uint8", format: "png" });
    const blocker = join(tmp, "a-file");
    await writeFile(blocker, "not a folder");
    // Root ignores permission bits, so make the destination's parent a regular file.
    const r = await runCli(["ingest", src, join(blocker, "out"), "--resolution", "4,4,40"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /a-file\/out/);
    assert.equal(await readFile(blocker, "utf8"), "not a folder");
  });
});

describe("resume", () => {
  test("kill -9 mid-ingest, rerun: byte-identical to an uninterrupted run", async () => {
    const src = join(tmp, "src-kill");
    await writeStack(src, {
      width: 192,
      height: 160,
      depth: 48,
      dtype: "uint8",
      format: "png",
      seed: 7,
    });
    const args = (dest: string) => [
      "ingest",
      src,
      dest,
      "--resolution",
      "4,4,40",
      "--chunk-size",
      "16,16,8",
      "--memory",
      "256KiB",
      "--workers",
      "1",
    ];
    const clean = join(tmp, "out-clean");
    const r0 = await runCli(args(clean));
    assert.equal(r0.code, 0, r0.stderr);

    const killed = join(tmp, "out-killed");
    const child = startCli(args(killed));
    const done = collect(child);
    // Wait until some, not all, tasks are finished, then kill without warning.
    const markers = join(killed, ".voxport", "done");
    const t0 = Date.now();
    for (;;) {
      const n = existsSync(markers) ? (await readdir(markers)).length : 0;
      if (n >= 3) break;
      if (Date.now() - t0 > 60000) assert.fail("ingest made no progress");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    const rk = await done;
    assert.equal(rk.signal, "SIGKILL");
    assert.equal(
      existsSync(join(killed, "info")),
      false,
      "an interrupted ingest publishes no info",
    );

    const r1 = await runCli(args(killed));
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stderr, /resum/);

    const a = await listFiles(clean);
    const b = await listFiles(killed);
    assert.deepEqual(
      b.map((f) => relative(killed, f)),
      a.map((f) => relative(clean, f)),
    );
    for (let i = 0; i < a.length; i++) {
      const ha = createHash("sha256")
        .update(await readFile(a[i]))
        .digest("hex");
      const hb = createHash("sha256")
        .update(await readFile(b[i]))
        .digest("hex");
      assert.equal(hb, ha, relative(clean, a[i]));
    }

    // A third run finds the dataset complete and changes nothing.
    const r2 = await runCli(args(killed));
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /nothing to do/);
  });

  test("a different ingest into an unfinished destination is refused without --overwrite", async () => {
    const src = join(tmp, "src-conflict");
    await writeStack(src, { width: 32, height: 32, depth: 4, dtype: "uint8", format: "png" });
    const dest = join(tmp, "out-conflict");
    assert.equal((await runCli(["ingest", src, dest, "--resolution", "4,4,40"])).code, 0);
    const r = await runCli(["ingest", src, dest, "--resolution", "8,8,40"]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /--overwrite/);
    const r2 = await runCli(["ingest", src, dest, "--resolution", "8,8,40", "--overwrite"]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(JSON.parse(await readFile(join(dest, "info"), "utf8")).scales[0].key, "8_8_40");
    assert.equal(existsSync(join(dest, "4_4_40")), false, "the old scale folders are gone");
  });
});
