/**
 * Interop with independent implementations of the precomputed format, both directions:
 *
 *   voxport writes → CloudVolume reads      voxport writes → TensorStore reads
 *   CloudVolume writes → voxport reads      TensorStore writes → voxport reads
 *
 * for every encoding × dtype × channel count voxport writes, unsharded and sharded (identity
 * hash, minishard_bits ≥ 1, 8 shard files), on a volume whose size is not a multiple of the chunk
 * size and whose voxel_offset is not zero. Every comparison is voxel-exact. jpeg is lossy, so
 * there the reference is the writer's own decode: what a peer decodes from voxport's jpeg must
 * equal what voxport decodes from it, and what voxport decodes from a peer's jpeg must equal the
 * peer's own decode.
 *
 * Unsharded volumes for CloudVolume are stored gzip'd (`<key>.gz`, CloudVolume's own
 * convention); TensorStore's file kvstore reads only `<key>`, so its unsharded volumes are
 * written with `compress: "none"`. Sharded volumes gzip inside the shard (`data_encoding`) and
 * serve both.
 *
 * Python runs four times in all (one process per direction and peer), each with a batch of every
 * case: test/interop/py/{cloudvolume,tensorstore}_io.py. The peers come from the venv made by
 * test/setup/provision-python.mjs; VOXPORT_SKIP_PYTHON=1 skips this file.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import {
  type Block,
  type DataType,
  getCodec,
  makeBlock,
  type PrecomputedInfo,
  PrecomputedVolume,
  type Shape4,
  type ShardingSpec,
  scaleBounds,
  type Vec3,
} from "../../src/index.js";
import { chooseShardingSpec } from "../../src/precomputed/sharding/spec.js";
import { openStore } from "../../src/storage/index.js";
import {
  type CaseResult,
  pythonMissingReason,
  readNpy,
  runPythonBatch,
  writeNpy,
} from "../helpers/python.js";

// ---- the matrix ----

type Enc = "raw" | "png" | "jpeg" | "compressed_segmentation";

interface Case {
  /** Slug, also the directory name. */
  id: string;
  /** Test title. */
  title: string;
  encoding: Enc;
  dtype: DataType;
  channels: number;
  sharded: boolean;
  info: PrecomputedInfo;
}

const SIZE: Vec3 = [77, 70, 41]; // grid 3×3×3 of 32×32×16 chunks, partial at every far edge
const OFFSET: Vec3 = [5, 17, 3];
const CHUNK: Vec3 = [32, 32, 16];
const CSEG_BLOCK: Vec3 = [4, 8, 2]; // anisotropic, so an axis mix-up cannot go unnoticed
const JPEG_QUALITY = 90;

const KINDS: Array<[Enc, DataType, number]> = [
  ["raw", "uint8", 1],
  ["raw", "uint16", 1],
  ["raw", "uint32", 1],
  ["raw", "uint64", 1],
  ["raw", "float32", 1],
  ["raw", "uint8", 3],
  ["png", "uint8", 1],
  ["png", "uint16", 1],
  ["jpeg", "uint8", 1],
  ["jpeg", "uint8", 3],
  ["compressed_segmentation", "uint32", 1],
  ["compressed_segmentation", "uint64", 1],
];

const BYTES: Record<DataType, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  uint64: 8,
  float32: 4,
};

/** Sharding for the test volumes: 2×2×2 chunks per shard, 2 minishards per shard, 8 shards. */
function shardingFor(encoding: Enc, dtype: DataType, channels: number): ShardingSpec {
  const chunkBytes = CHUNK[0] * CHUNK[1] * CHUNK[2] * BYTES[dtype] * channels;
  return chooseShardingSpec({
    gridShape: CHUNK.map((c, d) => Math.ceil(SIZE[d] / c)),
    chunkBytes,
    targetShardBytes: 8 * chunkBytes,
    maxChunksPerMinishard: 4,
    encoding,
  });
}

const CASES: Case[] = KINDS.flatMap(([encoding, dtype, channels]) =>
  [false, true].map((sharded): Case => {
    const segmentation = encoding === "compressed_segmentation";
    const id = `${encoding}-${dtype}-c${channels}-${sharded ? "sharded" : "unsharded"}`;
    const title = `${encoding} ${dtype}${channels > 1 ? ` ×${channels} channels` : ""} ${sharded ? "sharded" : "unsharded"}`;
    return {
      id,
      title,
      encoding,
      dtype,
      channels,
      sharded,
      info: {
        "@type": "neuroglancer_multiscale_volume",
        type: segmentation ? "segmentation" : "image",
        data_type: dtype,
        num_channels: channels,
        scales: [
          {
            key: "4_4_40",
            size: SIZE,
            voxel_offset: OFFSET,
            resolution: [4, 4, 40],
            chunk_sizes: [CHUNK],
            encoding,
            ...(segmentation ? { compressed_segmentation_block_size: CSEG_BLOCK } : {}),
            ...(encoding === "jpeg" ? { jpeg_quality: JPEG_QUALITY } : {}),
            ...(sharded ? { sharding: shardingFor(encoding, dtype, channels) } : {}),
          },
        ],
      },
    };
  }),
);

// ---- deterministic data ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Labels for segmentation-like dtypes: blocky regions sharing a few dozen labels (many ties, so
 * cseg blocks hold 1, 2, … values), sprinkled noise, a slab of per-voxel labels from 300 values
 * (16-bit cseg blocks), zeros, and for uint64 labels above 2^32 and 2^53.
 */
function labelData(c: Case, rand: () => number): Block {
  const b = makeBlock(c.dtype, [...SIZE, c.channels] as Shape4);
  const wide = c.dtype === "uint64";
  const draw = () =>
    wide
      ? (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32))
      : BigInt(Math.floor(rand() * 2 ** 32));
  const table = Array.from({ length: 23 }, draw);
  table[0] = 0n;
  const many = Array.from({ length: 300 }, draw);
  let i = 0;
  for (let ch = 0; ch < c.channels; ch++)
    for (let z = 0; z < SIZE[2]; z++)
      for (let y = 0; y < SIZE[1]; y++)
        for (let x = 0; x < SIZE[0]; x++, i++) {
          let v: bigint;
          if (z >= 20 && z < 24 && x < 40) v = many[Math.floor(rand() * many.length)];
          else if (rand() < 0.03) v = table[Math.floor(rand() * 3) + 1];
          else {
            const r =
              (Math.floor(x / 9) * 7 + Math.floor(y / 6) * 13 + Math.floor(z / 5) * 31) % 23;
            v = table[r];
          }
          if (b.data instanceof BigUint64Array) b.data[i] = v;
          else (b.data as Uint32Array)[i] = Number(v);
        }
  return b;
}

/** Images: a smooth gradient per channel plus noise (so jpeg has something real to do). */
function imageData(c: Case, rand: () => number): Block {
  const b = makeBlock(c.dtype, [...SIZE, c.channels] as Shape4);
  let i = 0;
  for (let ch = 0; ch < c.channels; ch++)
    for (let z = 0; z < SIZE[2]; z++)
      for (let y = 0; y < SIZE[1]; y++)
        for (let x = 0; x < SIZE[0]; x++, i++) {
          const g = x * 1.3 + y * 1.7 + z * 2.9 + ch * 70;
          const noise = rand();
          switch (c.dtype) {
            case "uint8": {
              // smooth (no wrap-around edges), so jpeg's error stays small and meaningful
              const v = 128 + 50 * Math.sin(x / 6 + ch) + 40 * Math.cos(y / 9 - z / 4);
              (b.data as Uint8Array)[i] = Math.max(0, Math.min(255, v + (noise - 0.5) * 16));
              break;
            }
            case "uint16":
              (b.data as Uint16Array)[i] = (g * 211 + noise * 4000) % 65536;
              break;
            case "uint32":
              (b.data as Uint32Array)[i] = (g * 1e7 + noise * 1e6) % 2 ** 32;
              break;
            case "uint64":
              (b.data as BigUint64Array)[i] =
                (BigInt(Math.floor(g * 1000)) << 40n) | BigInt(Math.floor(noise * 2 ** 40));
              break;
            case "float32":
              (b.data as Float32Array)[i] = (g - 100) * 0.37 + (noise - 0.5) * 1e-3;
              break;
            default:
              throw new Error(`no generator for ${c.dtype}`);
          }
        }
  if (b.data instanceof Float32Array) {
    // Bit patterns a careless reader might normalise.
    b.data.set([Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40], 5);
  }
  return b;
}

function dataFor(c: Case): Block {
  const rand = mulberry32(seedOf(`${c.encoding}/${c.dtype}/${c.channels}`));
  const labels =
    c.encoding === "compressed_segmentation" || (c.encoding === "raw" && c.dtype === "uint64");
  // raw uint64 gets labels (values over 2^53); raw uint32 gets the image generator
  return labels ? labelData(c, rand) : imageData(c, rand);
}

// ---- comparison ----

function bytesOf(b: Block): Uint8Array {
  return new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
}

/** Voxel-exact (bit-exact for floats) equality, with the first difference located on failure. */
function assertSameVoxels(actual: Block, expected: Block, what: string): void {
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape [x,y,z,c]`);
  const a = bytesOf(actual);
  const e = bytesOf(expected);
  if (Buffer.compare(a, e) === 0) return;
  const n = actual.data.length;
  const size = a.length / n;
  let first = -1;
  let count = 0;
  let maxDiff = 0;
  for (let i = 0; i < n; i++) {
    let same = true;
    for (let k = 0; k < size; k++) if (a[i * size + k] !== e[i * size + k]) same = false;
    if (same) continue;
    count++;
    if (first < 0) first = i;
    const d = Math.abs(Number(actual.data[i]) - Number(expected.data[i]));
    if (d > maxDiff) maxDiff = d;
  }
  const [sx, sy, sz] = actual.shape;
  const pos = [first % sx, Math.floor(first / sx) % sy, Math.floor(first / (sx * sy)) % sz];
  const ch = Math.floor(first / (sx * sy * sz));
  assert.fail(
    `${what}: ${count} of ${n} values differ (max |diff| ${maxDiff}); first at ` +
      `x,y,z=${pos.map((p, d) => p + OFFSET[d]).join(",")} c=${ch}: ` +
      `got ${actual.data[first]}, want ${expected.data[first]}`,
  );
}

/** Mean absolute difference, a sanity bound for lossy jpeg against the original. */
function meanAbsDiff(a: Block, b: Block): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(Number(a.data[i]) - Number(b.data[i]));
  return s / a.data.length;
}

type Peer = "cv" | "ts";

// ---- what this checkout of voxport can do (cases it cannot are marked todo) ----

function codecMissing(enc: Enc): string | undefined {
  try {
    getCodec(enc);
    return undefined;
  } catch (e) {
    return `voxport has no ${enc} codec yet (${(e as Error).message})`;
  }
}

const writeShardsMissing =
  typeof (PrecomputedVolume.prototype as { writeShards?: unknown }).writeShards === "function"
    ? undefined
    : "PrecomputedVolume.writeShards is not implemented yet";

/** Whether PrecomputedVolume.read accepts a sharded scale (an empty volume reads zeros). */
async function probeShardedRead(): Promise<string | undefined> {
  const c = CASES.find((x) => x.sharded && x.encoding === "raw")!;
  const vol = PrecomputedVolume.create(openStore(`mem://interop-probe-${process.pid}`), c.info);
  try {
    await vol.read(0, { min: OFFSET, max: [OFFSET[0] + 1, OFFSET[1] + 1, OFFSET[2] + 1] });
    return undefined;
  } catch (e) {
    return `voxport cannot read sharded scales yet (${(e as Error).message})`;
  }
}
const shardedReadMissing = await probeShardedRead();

function todoWrite(c: Case): string | undefined {
  return codecMissing(c.encoding) ?? (c.sharded ? writeShardsMissing : undefined);
}
function todoRead(c: Case): string | undefined {
  return codecMissing(c.encoding) ?? (c.sharded ? shardedReadMissing : undefined);
}

/**
 * Cases a peer cannot do, for reasons of its own (not voxport's). They stay `todo`, so they run
 * and start passing by themselves when the peer is fixed.
 */
function peerTodo(p: Peer, c: Case): string | undefined {
  if (p === "cv" && c.encoding === "png" && c.dtype === "uint16") {
    return (
      "CloudVolume 12.15.2 (pyspng-seunglab 1.1.3) has no 16-bit greyscale PNG: its encode fails " +
      "(libspng: 'This channel number and byte width are unsupported. byte_width: 2 " +
      "num_channels: 1') and its decode returns 2 samples per pixel"
    );
  }
  return undefined;
}

/** CloudVolume's multi-channel jpeg decode is patched (cloudvolume_io.py decode_jpeg_deinterleaved). */
const cvJpegPatched = (p: Peer, c: Case) => p === "cv" && c.encoding === "jpeg" && c.channels > 1;

// ---- the run ----

const SCRIPT: Record<Peer, string> = {
  cv: "test/interop/py/cloudvolume_io.py",
  ts: "test/interop/py/tensorstore_io.py",
};
const PEER_NAME: Record<Peer, string> = { cv: "CloudVolume", ts: "TensorStore" };

interface VoxportWrite {
  /** Directory per reader ("cv" gets the gzip'd copy of an unsharded volume). */
  dirs: Record<Peer, string>;
  /** voxport's own decode of what it wrote (the reference for jpeg). */
  self?: Block;
  error?: unknown;
}

let work = "";
const original = new Map<string, Block>();
const vxWrites = new Map<string, VoxportWrite>();
/** Peer reads of voxport's volumes, by peer then case id. */
const peerReads: Record<Peer, Map<string, CaseResult>> = { cv: new Map(), ts: new Map() };
/** Peer writes (with the peer's own read-back) by peer then case id. */
const peerWrites: Record<Peer, Map<string, CaseResult>> = { cv: new Map(), ts: new Map() };
const peerDir = (p: Peer, c: Case) => join(work, p, c.id);
const npy = (...parts: string[]) => `${join(work, "npy", ...parts)}.npy`;

function fileUrl(dir: string): string {
  return pathToFileURL(dir).href;
}

async function voxportWrite(c: Case): Promise<VoxportWrite> {
  const data = original.get(c.id)!;
  const bounds = scaleBounds(c.info.scales[0]);
  const dirs: Record<Peer, string> = c.sharded
    ? { cv: join(work, "vx", c.id), ts: join(work, "vx", c.id) }
    : { cv: join(work, "vx", `${c.id}-gzip`), ts: join(work, "vx", `${c.id}-plain`) };
  try {
    const variants = c.sharded
      ? [{ dir: dirs.cv, compress: "none" as const }]
      : [
          { dir: dirs.cv, compress: "gzip" as const },
          { dir: dirs.ts, compress: "none" as const },
        ];
    for (const { dir, compress } of variants) {
      const vol = PrecomputedVolume.create(openStore(fileUrl(dir)), c.info);
      await vol.writeInfo();
      if (c.sharded) await vol.writeShards(0, bounds, data);
      else await vol.writeChunks(0, bounds, data, { compress });
    }
    let self: Block | undefined;
    if (c.encoding === "jpeg") {
      const vol = await PrecomputedVolume.open(openStore(fileUrl(dirs.cv)));
      self = await vol.read(0, bounds);
    }
    return { dirs, self };
  } catch (error) {
    return { dirs, error };
  }
}

async function voxportRead(dir: string): Promise<Block> {
  const vol = await PrecomputedVolume.open(openStore(fileUrl(dir)));
  return vol.read(0, scaleBounds(vol.info.scales[0]));
}

const skip = process.env.VOXPORT_SKIP_PYTHON === "1" ? "VOXPORT_SKIP_PYTHON=1" : false;

describe("precomputed interop with CloudVolume and TensorStore", { skip }, () => {
  before(async () => {
    const missing = pythonMissingReason();
    if (missing) throw new Error(missing);
    work = await mkdtemp(join(tmpdir(), "voxport-interop-"));
    await mkdir(join(work, "npy", "in"), { recursive: true });
    for (const sub of ["cv-read", "ts-read", "cv-self", "ts-self"]) {
      await mkdir(join(work, "npy", sub), { recursive: true });
    }
    const data = new Map<string, Block>();
    for (const c of CASES) {
      const kind = `${c.encoding}/${c.dtype}/${c.channels}`;
      if (!data.has(kind)) data.set(kind, dataFor(c));
      original.set(c.id, data.get(kind)!);
      await writeNpy(npy("in", c.id), original.get(c.id)!);
    }

    // voxport writes every case it can, then each peer reads them (one process per peer) and
    // writes its own volumes (one more process per peer); the two peers run side by side.
    for (const c of CASES) {
      if (!todoWrite(c)) vxWrites.set(c.id, await voxportWrite(c));
    }
    const readable = CASES.filter((c) => vxWrites.get(c.id) && !vxWrites.get(c.id)!.error);
    const chain = async (p: Peer) => {
      peerReads[p] = await runPythonBatch(
        SCRIPT[p],
        "read",
        readable.map((c) => ({
          name: c.id,
          path: vxWrites.get(c.id)!.dirs[p],
          out: npy(`${p}-read`, c.id),
          deinterleave_jpeg: cvJpegPatched(p, c),
        })),
      );
      peerWrites[p] = await runPythonBatch(
        SCRIPT[p],
        "write",
        CASES.map((c) => ({
          name: c.id,
          path: peerDir(p, c),
          info: c.info,
          npy: npy("in", c.id),
          readback: c.encoding === "jpeg" ? npy(`${p}-self`, c.id) : undefined,
          deinterleave_jpeg: cvJpegPatched(p, c),
        })),
      );
    };
    await Promise.all([chain("cv"), chain("ts")]);
  });

  after(async () => {
    if (work && !process.env.VOXPORT_KEEP_INTEROP) await rm(work, { recursive: true, force: true });
    else if (work) console.log(`# interop artifacts kept in ${work}`);
  });

  test("test volumes: sizes off the chunk grid, non-zero offset, 8 shards with 2 minishards", () => {
    assert.ok(SIZE.every((n, d) => n % CHUNK[d] !== 0));
    assert.ok(OFFSET.every((o) => o !== 0));
    const raw = CASES.find((c) => c.sharded && c.encoding === "raw")!;
    assert.deepEqual(raw.info.scales[0].sharding, {
      "@type": "neuroglancer_uint64_sharded_v1",
      preshift_bits: 2,
      hash: "identity",
      minishard_bits: 1,
      shard_bits: 3,
      minishard_index_encoding: "gzip",
      data_encoding: "gzip",
    });
  });

  for (const p of ["cv", "ts"] as const) {
    describe(`voxport writes → ${PEER_NAME[p]} reads`, () => {
      for (const c of CASES) {
        const plain = p === "ts" && !c.sharded ? " (compress: none)" : "";
        const patched = cvJpegPatched(p, c) ? " (CV's RGB jpeg decode patched)" : "";
        const todo = todoWrite(c) ?? peerTodo(p, c);
        test(`${c.title}${plain}${patched}`, { todo }, async () => {
          const w = vxWrites.get(c.id);
          assert.ok(w, "voxport did not write this case");
          if (w.error) throw w.error;
          const r = peerReads[p].get(c.id);
          assert.ok(r, `${PEER_NAME[p]} did not run`);
          if (!r.ok) assert.fail(`${PEER_NAME[p]} failed to read ${w.dirs[p]}: ${r.error}`);
          const got = await readNpy(npy(`${p}-read`, c.id));
          const files = await readdir(join(w.dirs[p], "4_4_40"));
          if (c.sharded) {
            const shards = files.filter((f) => f.endsWith(".shard"));
            assert.equal(shards.length, 8, `shard files: ${shards.join(" ")}`);
          } else {
            // 27 chunks, stored as `<key>.gz` exactly when gzip'd (raw and cseg, for CloudVolume)
            const gz =
              p === "cv" && (c.encoding === "raw" || c.encoding === "compressed_segmentation");
            assert.equal(files.length, 27, files.join(" "));
            assert.ok(
              files.every((f) => f.endsWith(".gz") === gz),
              files.join(" "),
            );
          }
          if (c.encoding === "jpeg") {
            assert.ok(w.self, "voxport's own decode");
            assertSameVoxels(got, w.self, `${PEER_NAME[p]}'s decode vs voxport's decode`);
            const mad = meanAbsDiff(got, original.get(c.id)!);
            assert.ok(mad < 6, `jpeg decode is far from the original: mean |diff| ${mad}`);
          } else {
            assertSameVoxels(
              got,
              original.get(c.id)!,
              `${PEER_NAME[p]}'s read vs the data written`,
            );
          }
        });
      }
    });

    describe(`${PEER_NAME[p]} writes → voxport reads`, () => {
      for (const c of CASES) {
        const patched = cvJpegPatched(p, c) ? " (compared with CV's patched RGB jpeg decode)" : "";
        const todo = todoRead(c) ?? peerTodo(p, c);
        test(`${c.title}${patched}`, { todo }, async () => {
          const w = peerWrites[p].get(c.id);
          assert.ok(w, `${PEER_NAME[p]} did not run`);
          if (!w.ok) assert.fail(`${PEER_NAME[p]} failed to write ${c.id}: ${w.error}`);
          const files = await readdir(join(peerDir(p, c), "4_4_40"));
          if (c.sharded)
            assert.ok(files.filter((f) => f.endsWith(".shard")).length > 1, files.join(" "));
          const got = await voxportRead(peerDir(p, c));
          if (c.encoding === "jpeg") {
            const theirs = await readNpy(npy(`${p}-self`, c.id));
            assertSameVoxels(got, theirs, `voxport's decode vs ${PEER_NAME[p]}'s own decode`);
          } else {
            assertSameVoxels(got, original.get(c.id)!, "voxport's read vs the data written");
          }
        });
      }
    });
  }
});
