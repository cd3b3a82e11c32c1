import { benchAligned } from "./aligned.js";
import { benchBoss } from "./boss.js";
import { benchVoxportWrite, inputFor } from "./codecs.js";
import { benchGraph, formatGraphBench } from "./graph.js";
import { benchIngest } from "./ingest.js";
import { benchPeers, PEER_TASKS, peerBenchInputs } from "./peers.js";
import { benchQueue, formatQueueBench } from "./queue.js";
import { benchServer, formatServerBench } from "./server.js";
import { benchStorageUpload, formatStorageBench } from "./storage.js";
import { benchTiff, formatTiffBench } from "./tiff.js";

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
  for (const depth of [128, 256]) {
    const r = await benchIngest({ size: 2048, depth, workers: 2 });
    console.log(
      `| 2048×2048×${depth} uint8 | ${mib(r.sourceBytes)} | ${r.seconds.toFixed(1)} s | ${r.mbPerSecond.toFixed(0)} | ` +
        `${r.floorSeconds.toFixed(1)} s | ${r.ratioToFloor.toFixed(2)}× | ${mib(r.peakRssBytes)} |`,
    );
  }
}

if (want("aligned")) {
  console.log(
    "\n## aligned sections: 16 PNG sections of 2048², registry vs 15° rotation, 2 workers",
  );
  console.log("| input | output voxels | wall | output MB/s | peak RSS |");
  console.log("|---|---|---|---|---|");
  for (const r of await benchAligned({ size: 2048, depth: 16, workers: 2 })) {
    console.log(
      `| ${r.name} | ${r.outputSize.join("×")} | ${r.seconds.toFixed(1)} s | ${r.mbPerSecond.toFixed(0)} | ${mib(r.peakRssBytes)} |`,
    );
  }
}

if (want("codecs")) {
  console.log(
    "\n## encodings and sharding: voxport vs CloudVolume and TensorStore, same voxels, local disk",
  );
  console.log(
    "MB/s of raw voxels, best of 3, 64³ chunks; voxport: one library call on one thread.",
  );
  const inputs = peerBenchInputs();
  const peers = await benchPeers({ inputs });
  console.log("| workload | voxport | CloudVolume | TensorStore | voxport ÷ faster peer |");
  console.log("|---|---|---|---|---|");
  const names: Record<string, string> = {
    cseg_uint32: "compressed_segmentation uint32 256×256×64",
    cseg_uint64: "compressed_segmentation uint64 256×256×64",
    jpeg_uint8: "jpeg uint8 512×512×64 (q85)",
    shard_uint8_raw: "sharded raw uint8 512×512×128 (gzip in shard)",
  };
  for (const task of PEER_TASKS) {
    const ours = await benchVoxportWrite(task, inputFor(task, inputs));
    const fig = (peer: "cloudvolume" | "tensorstore") => {
      if (!peers.available) return undefined;
      const f = peers.results[peer][task];
      return f && "mbPerSecond" in f ? f.mbPerSecond : undefined;
    };
    const cv = fig("cloudvolume");
    const ts = fig("tensorstore");
    const faster = Math.max(cv ?? 0, ts ?? 0);
    console.log(
      `| ${names[task]} | ${ours.mbPerSecond.toFixed(0)} | ${cv?.toFixed(0) ?? "n/a"} | ${ts?.toFixed(0) ?? "n/a"} | ` +
        `${faster > 0 ? `${(ours.mbPerSecond / faster).toFixed(2)}×` : "n/a"} |`,
    );
  }
  if (!peers.available) console.log(`(peers not run: ${peers.reason})`);
}

if (want("storage")) {
  console.log(
    "\n## object-store upload: many small chunks vs one shard of the same bytes (moto S3)",
  );
  console.log(formatStorageBench(await benchStorageUpload()));
}

if (want("queue")) {
  console.log("\n## queues: enqueue throughput and per-task lease + renew + complete overhead");
  for (const line of formatQueueBench(await benchQueue())) console.log(line);
}

if (want("server")) {
  console.log(
    "\n## voxport serve: 2,000 /ngshard + /tasks requests, 8 concurrent clients, 2 server processes (concurrency 1 each)",
  );
  console.log(formatServerBench(await benchServer({ requests: 2000 })));
}

if (want("boss")) {
  console.log(
    "\n## BOSS sink: blosc encode of one 1024×1024×16 block, cutout POSTs to the test server",
  );
  const r = await benchBoss();
  console.log("| what | MB/s | other |");
  console.log("|---|---|---|");
  for (const e of r.encode) {
    console.log(
      `| blosc encode ${e.dtype} | ${e.mbPerSecond.toFixed(0)} | ratio ${e.ratio.toFixed(2)} |`,
    );
  }
  console.log(
    `| POST ${r.post.blocks} blocks, 4 in flight, loopback | ${r.post.mbPerSecond.toFixed(0)} | ` +
      `${r.post.blocksPerSecond.toFixed(1)} blocks/s, peak RSS ${mib(r.peakRssBytes)} |`,
  );
}

if (want("tiff")) {
  console.log("\n## BigTIFF region reads: tiled uint16, whole volume box by box (child process)");
  for (const line of formatTiffBench(await benchTiff())) console.log(line);
}

if (want("graph")) {
  console.log(
    "\n## ChunkedGraph: synthetic 512×512×256 volume of 4³ supervoxels (1M), 64³ chunks, 4 chunk jobs at a time; root lookups over HTTP",
  );
  for (const line of formatGraphBench(benchGraph([512, 512, 256]))) console.log(line);
}
