/**
 * Peer figures for `npm run bench`: the same work done by CloudVolume and by TensorStore (in the
 * venv of test/setup/provision-python.mjs), to print beside voxport's own figures.
 *
 *  - cseg_uint32 / cseg_uint64: compressed_segmentation write of a 256×256×64 label volume;
 *  - jpeg_uint8: jpeg write of a 512×512×64 uint8 image;
 *  - shard_uint8_raw: sharded raw write (gzip inside the shards) of a 512×512×128 uint8 volume.
 *
 * Everything goes to local disk in a temp dir, in 64³ chunks; MB/s are of raw voxels (1 MB =
 * 10^6 bytes), best of `repeat` runs. Unsharded chunks are stored without transfer gzip, so the
 * cseg/jpeg figures are codec plus file writes; CloudVolume also reports its codec alone
 * (`codecMbPerSecond`). CloudVolume runs single-process (parallel=1); TensorStore uses all cores
 * unless `threads` is set. bench/py/peers.py documents the details.
 *
 * Use `peerBenchInputs()` and `peerBenchSharding()` for voxport's side so that both run on the
 * same voxels with the same parameters.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Block, makeBlock, type Shape4, type Vec3 } from "../src/ops/array.js";
import { chooseShardingSpec } from "../src/precomputed/sharding/spec.js";
import type { ShardingSpec } from "../src/precomputed/types.js";
import { pythonMissingReason, runPython, writeNpy } from "../test/helpers/python.js";

export type PeerTask = "cseg_uint32" | "cseg_uint64" | "jpeg_uint8" | "shard_uint8_raw";
export const PEER_TASKS: readonly PeerTask[] = [
  "cseg_uint32",
  "cseg_uint64",
  "jpeg_uint8",
  "shard_uint8_raw",
];
export type PeerName = "cloudvolume" | "tensorstore";

export const PEER_BENCH_CHUNK: Vec3 = [64, 64, 64];
export const PEER_BENCH_CSEG_BLOCK: Vec3 = [8, 8, 8];
export const PEER_BENCH_JPEG_QUALITY = 85;

export interface PeerFigure {
  /** Best wall time of one full write. */
  seconds: number;
  allSeconds: number[];
  /** Raw voxel MB (10^6 bytes) per second of the best run. */
  mbPerSecond: number;
  rawBytes: number;
  /** Bytes on disk (chunks or shards, not info) and their file count. */
  storedBytes: number;
  files: number;
  /** CloudVolume cseg/jpeg only: the codec alone, in memory, chunk by chunk. */
  codecMbPerSecond?: number;
}

export type PeerBenchResult =
  | {
      available: true;
      versions: Record<string, string>;
      /** Per peer, per task: the figure, or the error the peer raised. */
      results: Record<PeerName, Partial<Record<PeerTask, PeerFigure | { error: string }>>>;
      sharding: ShardingSpec;
    }
  | { available: false; reason: string };

export interface PeerBenchInputs {
  labels32: Block;
  labels64: Block;
  image: Block;
  shardImage: Block;
}

export interface PeerBenchOptions {
  /** Runs per task (best is kept); default 3. */
  repeat?: number;
  /** Thread limit for TensorStore's pools; default: its own (all cores). */
  threads?: number;
  peers?: PeerName[];
  tasks?: readonly PeerTask[];
  /** Voxels to write; default `peerBenchInputs()`. */
  inputs?: PeerBenchInputs;
  /** Sharding of shard_uint8_raw; default `peerBenchSharding()`. */
  sharding?: ShardingSpec;
}

/**
 * Sharding for the 512×512×128 uint8 volume in 64³ chunks (grid 8×8×2): TensorStore's rule
 * (chooseShardingSpec) for 8 MiB shards, i.e. 32 chunks per shard, 4 shards, gzip data.
 */
export function peerBenchSharding(): ShardingSpec {
  return chooseShardingSpec({
    gridShape: [8, 8, 2],
    chunkBytes: PEER_BENCH_CHUNK[0] * PEER_BENCH_CHUNK[1] * PEER_BENCH_CHUNK[2],
    targetShardBytes: 8 * 2 ** 20,
    encoding: "raw",
  });
}

function hash32(a: number, b: number, c: number, seed: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77) ^ Math.imul(c, 0xc2b2ae3d) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Segmentation-like labels: cells of 12×12×6 voxels with wavy borders, ~3% speckle. */
function labels(dtype: "uint32" | "uint64", shape: Vec3): Block {
  const b = makeBlock(dtype, [...shape, 1] as Shape4);
  let i = 0;
  for (let z = 0; z < shape[2]; z++)
    for (let y = 0; y < shape[1]; y++)
      for (let x = 0; x < shape[0]; x++, i++) {
        const cx = Math.floor((x + 3 * Math.sin(y / 5)) / 12);
        const cy = Math.floor((y + 3 * Math.cos(x / 7)) / 12);
        const cz = Math.floor(z / 6);
        const speckle = hash32(x, y, z, 7) % 100 < 3;
        const h = speckle ? hash32(cx + 1, cy, cz, 1) : hash32(cx, cy, cz, 1);
        if (b.data instanceof BigUint64Array) {
          b.data[i] = (BigInt(hash32(cx, cy, cz, 2)) << 32n) | BigInt(h);
        } else (b.data as Uint32Array)[i] = h;
      }
  return b;
}

/** EM-like uint8: smooth membranes-and-blobs texture plus noise. */
function image(shape: Vec3): Block {
  const b = makeBlock("uint8", [...shape, 1] as Shape4);
  const d = b.data as Uint8Array;
  let i = 0;
  for (let z = 0; z < shape[2]; z++)
    for (let y = 0; y < shape[1]; y++)
      for (let x = 0; x < shape[0]; x++, i++) {
        const v = 140 + 45 * Math.sin(x / 9 + z / 13) * Math.cos(y / 11 - z / 17);
        d[i] = Math.max(0, Math.min(255, v + ((hash32(x, y, z, 3) & 31) - 16)));
      }
  return b;
}

/** The deterministic voxels of every task (~100 MB in all). */
export function peerBenchInputs(): PeerBenchInputs {
  return {
    labels32: labels("uint32", [256, 256, 64]),
    labels64: labels("uint64", [256, 256, 64]),
    image: image([512, 512, 64]),
    shardImage: image([512, 512, 128]),
  };
}

interface RawFigure {
  seconds: number;
  all_seconds: number[];
  mb_per_second: number;
  raw_bytes: number;
  stored_bytes: number;
  files: number;
  codec_mb_per_second?: number;
}

/** Time CloudVolume and TensorStore on the tasks; `available: false` when the venv is missing. */
export async function benchPeers(options: PeerBenchOptions = {}): Promise<PeerBenchResult> {
  const missing = pythonMissingReason();
  if (missing) return { available: false, reason: missing };
  const tasks = options.tasks ?? PEER_TASKS;
  const sharding = options.sharding ?? peerBenchSharding();
  const inputs = options.inputs ?? peerBenchInputs();
  const dir = await mkdtemp(join(tmpdir(), "voxport-bench-peers-"));
  try {
    const npy = async (name: string, block: Block) => {
      const path = join(dir, `${name}.npy`);
      await writeNpy(path, block);
      return path;
    };
    const chunk = PEER_BENCH_CHUNK;
    const jobTasks = [];
    for (const t of tasks) {
      if (t === "cseg_uint32" || t === "cseg_uint64") {
        const block = t === "cseg_uint32" ? inputs.labels32 : inputs.labels64;
        jobTasks.push({
          name: t,
          kind: "cseg",
          npy: await npy(t, block),
          chunk,
          encoding: "compressed_segmentation",
          block_size: PEER_BENCH_CSEG_BLOCK,
        });
      } else if (t === "jpeg_uint8") {
        jobTasks.push({
          name: t,
          kind: "jpeg",
          npy: await npy(t, inputs.image),
          chunk,
          encoding: "jpeg",
          jpeg_quality: PEER_BENCH_JPEG_QUALITY,
        });
      } else {
        jobTasks.push({
          name: t,
          kind: "shard",
          npy: await npy(t, inputs.shardImage),
          chunk,
          encoding: "raw",
          sharding,
        });
      }
    }
    const r = await runPython<{
      versions: Record<string, string>;
      results: Record<PeerName, Record<string, RawFigure | { error: string }>>;
    }>(
      "bench/py/peers.py",
      {
        dir,
        repeat: options.repeat ?? 3,
        threads: options.threads ?? null,
        peers: options.peers ?? ["cloudvolume", "tensorstore"],
        tasks: jobTasks,
      },
      { timeoutMs: 30 * 60_000 },
    );
    const results = {} as Record<
      PeerName,
      Partial<Record<PeerTask, PeerFigure | { error: string }>>
    >;
    for (const [peer, byTask] of Object.entries(r.results) as Array<
      [PeerName, Record<string, RawFigure | { error: string }>]
    >) {
      results[peer] = {};
      for (const [task, f] of Object.entries(byTask)) {
        results[peer][task as PeerTask] =
          "error" in f
            ? f
            : {
                seconds: f.seconds,
                allSeconds: f.all_seconds,
                mbPerSecond: f.mb_per_second,
                rawBytes: f.raw_bytes,
                storedBytes: f.stored_bytes,
                files: f.files,
                ...(f.codec_mb_per_second === undefined
                  ? {}
                  : { codecMbPerSecond: f.codec_mb_per_second }),
              };
      }
    }
    return { available: true, versions: r.versions, results, sharding };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/peers.ts`: print the figures as JSON.
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchPeers(), null, 2));
}
