import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface GraphBench {
  store: string;
  layers: number;
  supervoxels: number;
  edges: number;
  l2Seconds: number;
  parentSeconds: number;
  parentChildren: number;
  rootP50: number;
  rootP99: number;
  peakRss: number;
}

/** Runs bench/graph-child.ts in a fresh process per store so each peak RSS is its own. */
export function benchGraph(
  size: [number, number, number],
  stores = ["memory", "level"],
): GraphBench[] {
  const child = fileURLToPath(new URL("./graph-child.ts", import.meta.url));
  return stores.map((store) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", child, store, ...size.map(String)], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0) throw new Error(`graph bench (${store}) failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").pop() as string) as GraphBench;
  });
}

export function formatGraphBench(rows: GraphBench[]): string[] {
  const out = [
    "| store | supervoxels | edges | layers | layer 2 | SV/s | edges/s | parent layers | children/s | root p50 | root p99 | peak RSS |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.store} | ${r.supervoxels.toLocaleString("en")} | ${r.edges.toLocaleString("en")} | ${r.layers} | ${r.l2Seconds.toFixed(1)} s | ` +
        `${Math.round(r.supervoxels / r.l2Seconds).toLocaleString("en")} | ${Math.round(r.edges / r.l2Seconds).toLocaleString("en")} | ` +
        `${r.parentSeconds.toFixed(1)} s | ${Math.round(r.parentChildren / r.parentSeconds).toLocaleString("en")} | ` +
        `${r.rootP50.toFixed(2)} ms | ${r.rootP99.toFixed(2)} ms | ${(r.peakRss / 1024 ** 2).toFixed(0)} MiB |`,
    );
  }
  return out;
}
