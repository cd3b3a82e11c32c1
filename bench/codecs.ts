import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Block, Vec3 } from "../src/ops/array.js";
import type { Box } from "../src/ops/bbox.js";
import type { PrecomputedInfo, ScaleInfo } from "../src/precomputed/types.js";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { openStore } from "../src/storage/registry.js";
import {
  PEER_BENCH_CHUNK,
  PEER_BENCH_CSEG_BLOCK,
  PEER_BENCH_JPEG_QUALITY,
  type PeerBenchInputs,
  type PeerTask,
  peerBenchSharding,
} from "./peers.js";

/**
 * voxport's side of the peer comparison (bench/peers.ts): the same voxels, the same chunking
 * and parameters, written with the library to local disk, best of `repeat` runs. The write runs
 * on one thread (the library call itself); encodes and file writes overlap inside it.
 */
export interface VoxportFigure {
  seconds: number;
  mbPerSecond: number;
  storedBytes: number;
  files: number;
}

async function diskUsage(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || e.name === "info") continue;
    bytes += (await stat(join(e.parentPath, e.name))).size;
    files++;
  }
  return { bytes, files };
}

function infoFor(task: PeerTask, block: Block): PrecomputedInfo {
  const size = block.shape.slice(0, 3) as Vec3;
  const scale: ScaleInfo = {
    key: "1_1_1",
    size,
    resolution: [1, 1, 1],
    chunk_sizes: [PEER_BENCH_CHUNK],
    encoding: "raw",
  };
  if (task.startsWith("cseg")) {
    scale.encoding = "compressed_segmentation";
    scale.compressed_segmentation_block_size = PEER_BENCH_CSEG_BLOCK;
  }
  if (task === "jpeg_uint8") {
    scale.encoding = "jpeg";
    scale.jpeg_quality = PEER_BENCH_JPEG_QUALITY;
  }
  if (task === "shard_uint8_raw") scale.sharding = peerBenchSharding();
  return {
    "@type": "neuroglancer_multiscale_volume",
    type: task.startsWith("cseg") ? "segmentation" : "image",
    data_type: block.dtype,
    num_channels: 1,
    scales: [scale],
  };
}

export function inputFor(task: PeerTask, inputs: PeerBenchInputs): Block {
  switch (task) {
    case "cseg_uint32":
      return inputs.labels32;
    case "cseg_uint64":
      return inputs.labels64;
    case "jpeg_uint8":
      return inputs.image;
    case "shard_uint8_raw":
      return inputs.shardImage;
  }
}

export async function benchVoxportWrite(
  task: PeerTask,
  block: Block,
  repeat = 3,
): Promise<VoxportFigure> {
  const info = infoFor(task, block);
  const box: Box = { min: [0, 0, 0], max: block.shape.slice(0, 3) as Vec3 };
  let best = Number.POSITIVE_INFINITY;
  let usage = { bytes: 0, files: 0 };
  for (let r = 0; r < repeat; r++) {
    const dir = await mkdtemp(join(tmpdir(), "voxport-bench-codec-"));
    try {
      const vol = PrecomputedVolume.create(openStore(dir), info);
      await vol.writeInfo();
      const t0 = performance.now();
      await vol.writeChunks(0, box, block, { compress: "none" });
      best = Math.min(best, (performance.now() - t0) / 1000);
      usage = await diskUsage(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return {
    seconds: best,
    mbPerSecond: block.data.byteLength / 1e6 / best,
    storedBytes: usage.bytes,
    files: usage.files,
  };
}
