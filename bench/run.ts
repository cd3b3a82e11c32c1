import { benchIngest } from "./ingest.js";

/**
 * `npm run bench [-- name…]`: throughput and peak memory of each capability. Not a test: it
 * prints figures (and ratios to peers where a peer runs here) for the closing notes and README.
 */
const only = process.argv.slice(2);
const want = (name: string) => only.length === 0 || only.includes(name);
const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;

if (want("ingest")) {
  console.log("## ingest: PNG stack → raw+gzip precomputed with a full pyramid, 2 workers");
  console.log("| stack | source | wall | source MB/s | codec floor | ratio to floor | peak RSS |");
  console.log("|---|---|---|---|---|---|---|");
  for (const depth of [64, 256]) {
    const r = await benchIngest({ size: 2048, depth, workers: 2 });
    console.log(
      `| 2048×2048×${depth} uint8 | ${mib(r.sourceBytes)} | ${r.seconds.toFixed(1)} s | ${r.mbPerSecond.toFixed(0)} | ` +
        `${r.floorSeconds.toFixed(1)} s | ${r.ratioToFloor.toFixed(2)}× | ${mib(r.peakRssBytes)} |`,
    );
  }
}
