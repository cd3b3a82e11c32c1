import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureSyntheticStack } from "../scripts/synthetic-em.js";
import { startThread } from "../src/worker/pool.js";
import { collect, startCli } from "../test/helpers/cli.js";

export interface IngestBenchResult {
  depth: number;
  sourceBytes: number;
  seconds: number;
  mbPerSecond: number;
  peakRssBytes: number;
  floorSeconds: number;
  ratioToFloor: number;
}

async function codecFloor(files: string[], workers: number, level: number): Promise<number> {
  const t0 = performance.now();
  const parts: string[][] = Array.from({ length: workers }, () => []);
  files.forEach((f, i) => {
    parts[i % workers].push(f);
  });
  await Promise.all(
    parts.map(
      (p) =>
        new Promise((resolve, reject) => {
          const w = startThread(new URL("./floor-worker.ts", import.meta.url), {
            workerData: { files: p, level },
          });
          w.once("message", resolve);
          w.once("error", reject);
        }),
    ),
  );
  return (performance.now() - t0) / 1000;
}

export async function benchIngest(opts: {
  size: number;
  depth: number;
  workers: number;
}): Promise<IngestBenchResult> {
  const dir = join(process.cwd(), ".bench", `stack-${opts.size}x${opts.size}x${opts.depth}`);
  process.stderr.write(`generating ${dir} (once)…\n`);
  const files = await ensureSyntheticStack(dir, opts.size, opts.size, opts.depth);
  const sourceBytes = opts.size * opts.size * opts.depth;
  const floorSeconds = await codecFloor(files, opts.workers, 6);
  const out = await mkdtemp(join(tmpdir(), "voxport-bench-"));
  try {
    const t0 = performance.now();
    const r = await collect(
      startCli([
        "ingest",
        dir,
        `file://${out}/em`,
        "--resolution",
        "4,4,40",
        "--workers",
        String(opts.workers),
        "--json",
      ]),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`ingest failed (${r.code}): ${r.stderr}`);
    const summary = JSON.parse(r.stdout.trim().split("\n").pop()!);
    return {
      depth: opts.depth,
      sourceBytes,
      seconds,
      mbPerSecond: sourceBytes / 1e6 / seconds,
      peakRssBytes: summary.peakRssBytes,
      floorSeconds,
      ratioToFloor: seconds / floorSeconds,
    };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
