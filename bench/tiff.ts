/**
 * BigTIFF region-read throughput: a tiled uint16 BigTIFF (written once by tifffile in the test
 * venv, cached in the temp folder) read box by box through TiffSource in a child process, so
 * the peak RSS is the reader's alone. MB/s counts decoded voxel bytes.
 *
 *   npm run bench tiff
 *   node --import tsx bench/tiff.ts --child FILE BOX   (the measured child)
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openTiff } from "../src/sources/tiff/source.js";
import { pythonMissingReason, runPythonBatch } from "../test/helpers/python.js";

export interface TiffBenchResult {
  label: string;
  fileBytes: number;
  readBytes: number;
  seconds: number;
  mbPerSecond: number;
  peakRssBytes: number;
}

interface Variant {
  label: string;
  width: number;
  height: number;
  depth: number;
  tile: [number, number];
  compression: "zlib" | null;
  box: number;
}

const VARIANTS: Variant[] = [
  {
    label: "8192×8192×8 uint16, 512² tiles, deflate; 2048×2048×8 boxes",
    width: 8192,
    height: 8192,
    depth: 8,
    tile: [512, 512],
    compression: "zlib",
    box: 2048,
  },
  {
    label: "8192×8192×8 uint16, 512² tiles, uncompressed; 2048×2048×8 boxes",
    width: 8192,
    height: 8192,
    depth: 8,
    tile: [512, 512],
    compression: null,
    box: 2048,
  },
];

async function ensureFile(v: Variant): Promise<{ path: string; bytes: number }> {
  const dir = join(tmpdir(), "voxport-bench-tiff");
  await mkdir(dir, { recursive: true });
  const path = join(dir, `big-${v.width}x${v.height}x${v.depth}-${v.compression ?? "none"}.tif`);
  if (!existsSync(path)) {
    const r = await runPythonBatch("test/sources/py/write_inputs.py", "big_tiff", [
      {
        name: "f",
        path,
        width: v.width,
        height: v.height,
        depth: v.depth,
        tile: v.tile,
        compression: v.compression,
      },
    ]);
    const f = r.get("f");
    if (!f?.ok) throw new Error(`writing ${path} failed: ${JSON.stringify(f)}`);
  }
  const { statSync } = await import("node:fs");
  return { path, bytes: statSync(path).size };
}

/** The measured part: read the whole volume in box×box×depth regions. */
async function child(path: string, box: number): Promise<void> {
  const src = await openTiff(path);
  const [w, h, d] = src.size;
  let bytes = 0;
  const t0 = performance.now();
  for (let y = 0; y < h; y += box) {
    for (let x = 0; x < w; x += box) {
      const b = await src.read({ min: [x, y, 0], max: [x + box, y + box, d] });
      bytes += b.data.byteLength;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${JSON.stringify({ bytes, seconds, maxRss: process.resourceUsage().maxRSS * 1024 })}\n`,
  );
}

export async function benchTiff(): Promise<TiffBenchResult[] | string> {
  const missing = pythonMissingReason();
  if (missing) return missing;
  const out: TiffBenchResult[] = [];
  for (const v of VARIANTS) {
    const f = await ensureFile(v);
    const self = fileURLToPath(import.meta.url);
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", self, "--child", f.path, String(v.box)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let text = "";
    proc.stdout.on("data", (d) => {
      text += d;
    });
    const code = await new Promise<number | null>((resolve) => proc.on("close", resolve));
    if (code !== 0) throw new Error(`bench child exited with ${code}`);
    const r = JSON.parse(text.trim()) as { bytes: number; seconds: number; maxRss: number };
    out.push({
      label: v.label,
      fileBytes: f.bytes,
      readBytes: r.bytes,
      seconds: r.seconds,
      mbPerSecond: r.bytes / 1e6 / r.seconds,
      peakRssBytes: r.maxRss,
    });
  }
  return out;
}

export function formatTiffBench(r: TiffBenchResult[] | string): string[] {
  if (typeof r === "string") return [`(not run: ${r})`];
  const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  return [
    "| file | on disk | decoded | wall | MB/s | peak RSS |",
    "|---|---|---|---|---|---|",
    ...r.map(
      (x) =>
        `| ${x.label} | ${mib(x.fileBytes)} | ${mib(x.readBytes)} | ${x.seconds.toFixed(1)} s | ` +
        `${x.mbPerSecond.toFixed(0)} | ${mib(x.peakRssBytes)} |`,
    ),
  ];
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], Number(process.argv[4]));
}
