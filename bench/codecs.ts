import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { isMainThread, parentPort, type Worker, workerData } from "node:worker_threads";
import type { Block, Vec3 } from "../src/ops/array.js";
import type { Box } from "../src/ops/bbox.js";
import { copyBox } from "../src/ops/copy.js";
import { shardShapeVoxels } from "../src/precomputed/shard-grid.js";
import type { PrecomputedInfo, ScaleInfo } from "../src/precomputed/types.js";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { openStore } from "../src/storage/registry.js";
import { startThread } from "../src/worker/pool.js";
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
 * and parameters, written with the library to local disk, best of `repeat` runs.
 *
 * Parallelism, as users get it: `voxport ingest --workers N` runs its tasks on N worker threads,
 * each writing its own chunk-aligned (or shard-aligned) box with `writeChunks`. So by default the
 * box is split in `threads` (default: the machine's cores, like TensorStore's pools) slabs along
 * y, each slab is handed to a worker thread before the clock starts (as an ingest worker has
 * read its source), and a run is timed from "go" until every worker's `writeChunks` has
 * returned. Workers live across runs, as ingest workers do. `threads: 1` times one library call
 * on the calling thread instead (within it, sharp and zlib still run on libuv's threads).
 */
export interface VoxportFigure {
  seconds: number;
  mbPerSecond: number;
  storedBytes: number;
  files: number;
  /** Worker threads that shared the box (1: one call on the calling thread). */
  threads: number;
}

export interface VoxportBenchOptions {
  /** Runs, best kept; default 3. */
  repeat?: number;
  /** Worker threads splitting the box; default availableParallelism(); 1 = no workers. */
  threads?: number;
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

/**
 * `parts` slabs of `size` along y, each a whole number of `unit` (chunks, or shards when
 * sharded, so that each slab is a valid writeChunks box); fewer when there are fewer units.
 */
function slabs(size: Vec3, unit: number, parts: number): Box[] {
  const units = Math.ceil(size[1] / unit);
  const out: Box[] = [];
  for (let i = 0; i < parts; i++) {
    const y0 = Math.floor((i * units) / parts) * unit;
    const y1 = Math.min(size[1], Math.floor(((i + 1) * units) / parts) * unit);
    if (y1 > y0) out.push({ min: [0, y0, 0], max: [size[0], y1, size[2]] });
  }
  return out;
}

function cut(block: Block, box: Box): Block {
  const shape = [0, 1, 2].map((d) => box.max[d] - box.min[d]);
  const out: Block = {
    dtype: block.dtype,
    shape: [shape[0], shape[1], shape[2], block.shape[3]],
    data: new (block.data.constructor as new (n: number) => Block["data"])(
      shape[0] * shape[1] * shape[2] * block.shape[3],
    ),
  };
  copyBox(block, { min: [0, 0, 0], max: block.shape.slice(0, 3) as Vec3 }, out, box);
  return out;
}

interface WorkerJob {
  info: PrecomputedInfo;
  box: Box;
  block: Block;
}

/**
 * A bench worker holding its slab; `ready` settles once it has loaded (not timed: ingest workers
 * are up before they take tasks); `write(dir)` runs its writeChunks into `dir`.
 */
function startWorker(job: WorkerJob): {
  worker: Worker;
  ready: Promise<void>;
  write(dir: string): Promise<void>;
} {
  const worker = startThread(new URL(import.meta.url), { workerData: { voxportCodecBench: job } });
  const ready = new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  return {
    worker,
    ready,
    async write(dir: string) {
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        worker.once("error", onError);
        worker.once("message", (m: { error?: string }) => {
          worker.off("error", onError);
          if (m.error) reject(new Error(m.error));
          else resolve();
        });
        worker.postMessage(dir);
      });
    },
  };
}

export async function benchVoxportWrite(
  task: PeerTask,
  block: Block,
  options: VoxportBenchOptions = {},
): Promise<VoxportFigure> {
  const repeat = options.repeat ?? 3;
  const info = infoFor(task, block);
  const size = block.shape.slice(0, 3) as Vec3;
  const box: Box = { min: [0, 0, 0], max: size };
  const scale = info.scales[0];
  const unit = scale.sharding ? shardShapeVoxels(scale)[1] : PEER_BENCH_CHUNK[1];
  const parts = slabs(size, unit, options.threads ?? availableParallelism());
  const workers =
    parts.length > 1 ? parts.map((b) => startWorker({ info, box: b, block: cut(block, b) })) : [];
  let best = Number.POSITIVE_INFINITY;
  let usage = { bytes: 0, files: 0 };
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (let r = 0; r < repeat; r++) {
      const dir = await mkdtemp(join(tmpdir(), "voxport-bench-codec-"));
      try {
        const vol = PrecomputedVolume.create(openStore(dir), info);
        await vol.writeInfo();
        const t0 = performance.now();
        if (workers.length > 0) await Promise.all(workers.map((w) => w.write(dir)));
        else await vol.writeChunks(0, box, block, { compress: "none" });
        best = Math.min(best, (performance.now() - t0) / 1000);
        usage = await diskUsage(dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
  return {
    seconds: best,
    mbPerSecond: block.data.byteLength / 1e6 / best,
    storedBytes: usage.bytes,
    files: usage.files,
    threads: Math.max(1, workers.length),
  };
}

// Worker side: hold the slab, write it into each directory the parent names.
const job = (workerData as { voxportCodecBench?: WorkerJob } | null)?.voxportCodecBench;
if (!isMainThread && job && parentPort) {
  const port = parentPort;
  port.on("message", async (dir: string) => {
    try {
      const vol = PrecomputedVolume.create(openStore(dir), job.info);
      await vol.writeChunks(0, job.box, job.block, { compress: "none" });
      port.postMessage({});
    } catch (e) {
      port.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
  port.postMessage({ ready: true });
}
