/**
 * Aligned-section ingest: sections placed by a 15° rotation (+ translation) through a .jsonl
 * sections file (bilinear resampling), against the same sections placed by whole-pixel offsets
 * in a registry.txt (copied, no resampling). MB/s of output voxels at full resolution (the
 * pyramid is built too), wall clock of the CLI; peak RSS from its --json summary.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { collect, startCli } from "../test/helpers/cli.js";

export interface AlignedBenchResult {
  name: string;
  outputSize: [number, number, number];
  seconds: number;
  mbPerSecond: number;
  peakRssBytes: number;
}

const ANGLE = (15 * Math.PI) / 180;

/** EM-looking content without a long generation step: overlapping waves and a hash. */
async function ensureSections(dir: string, size: number, depth: number): Promise<void> {
  const done = join(dir, ".complete");
  if (existsSync(done)) return;
  await mkdir(dir, { recursive: true });
  const px = new Uint8Array(size * size);
  const reg: string[] = [];
  const list: string[] = [];
  const c = Math.cos(ANGLE);
  const s = Math.sin(ANGLE);
  // Rotation about the section centre, then a drift per z.
  const h = size / 2;
  for (let z = 0; z < depth; z++) {
    for (let y = 0, i = 0; y < size; y++) {
      for (let x = 0; x < size; x++, i++) {
        const v =
          128 +
          50 * Math.sin(x / 17 + z / 3) * Math.cos(y / 23) +
          30 * Math.sin((x + y) / 7) +
          ((Math.imul(x * 7919 + y, 2654435761) >>> 27) - 16);
        px[i] = Math.max(0, Math.min(255, v));
      }
    }
    const name = `1,${z + 1}_finished`;
    await sharp(px, { raw: { width: size, height: size, channels: 1 } })
      .toColourspace("b-w")
      .png({ compressionLevel: 1 })
      .toFile(join(dir, `${name}.png`));
    reg.push(`${name}\t0\t${-3 * z}\t${2 * z}\t${size}\t${size}\ttrue`);
    const e = h - c * h + s * h + 11 * z;
    const f = h - s * h - c * h - 7 * z;
    list.push(JSON.stringify({ z, file: `${name}.png`, affine: [c, s, -s, c, e, f] }));
  }
  await writeFile(join(dir, "registry.txt"), `${reg.join("\n")}\n`);
  await writeFile(join(dir, "sections.jsonl"), `${list.join("\n")}\n`);
  await writeFile(done, "");
}

async function run(name: string, input: string, workers: number): Promise<AlignedBenchResult> {
  const out = await mkdtemp(join(tmpdir(), "voxport-bench-aligned-"));
  try {
    const t0 = performance.now();
    const r = await collect(
      startCli([
        "ingest",
        input,
        `file://${out}/em`,
        "--resolution",
        "4,4,40",
        "--workers",
        String(workers),
        "--json",
      ]),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`ingest ${input} failed (${r.code}): ${r.stderr}`);
    const summary = JSON.parse(r.stdout.trim().split("\n").pop()!);
    const info = JSON.parse(await readFile(join(out, "em", "info"), "utf8"));
    const outputSize = info.scales[0].size as [number, number, number];
    const voxels = outputSize[0] * outputSize[1] * outputSize[2];
    return {
      name,
      outputSize,
      seconds,
      mbPerSecond: voxels / 1e6 / seconds,
      peakRssBytes: summary.peakRssBytes,
    };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export async function benchAligned(opts: {
  size: number;
  depth: number;
  workers: number;
}): Promise<AlignedBenchResult[]> {
  const dir = join(process.cwd(), ".bench", `aligned-${opts.size}x${opts.depth}`);
  process.stderr.write(`generating ${dir} (once)…\n`);
  await ensureSections(dir, opts.size, opts.depth);
  return [
    await run("registry.txt, whole-pixel offsets (copy)", dir, opts.workers),
    await run("sections.jsonl, 15° rotation (bilinear)", join(dir, "sections.jsonl"), opts.workers),
  ];
}
