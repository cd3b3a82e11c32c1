import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { isVoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type Shape4, type Vec3 } from "../ops/array.js";
import { type Box, boxShape } from "../ops/bbox.js";
import { copyBox } from "../ops/copy.js";
import type { GetOptions, KvStore, PutOptions, StoredObject } from "../storage/kvstore.js";
import { pngCodec } from "./codecs/png-codec.js";
import { type ChunkCodec, getCodec, registerCodec, resolveCodec } from "./codecs/registry.js";
import { chunkBox, scaleBounds } from "./grid.js";
import { shardBoxes, shardShapeVoxels } from "./shard-grid.js";
import { splitShard } from "./sharding/decoder.js";
import { encodeShard, type ShardChunk } from "./sharding/encoder.js";
import { encodeCompressedMorton } from "./sharding/morton.js";
import { shardAndMinishard, shardFileName, shardRegion } from "./sharding/spec.js";
import type { Encoding, PrecomputedInfo, ScaleInfo, ShardingSpec } from "./types.js";
import { PrecomputedVolume } from "./volume.js";

/**
 * Minimal in-memory KvStore: copies on put, records put options, counts requests (all gets,
 * ranged gets, puts, deletes) and requests in flight. Ranges are clamped as HTTP servers do.
 */
class MemStore implements KvStore {
  readonly url = "mem://test";
  readonly capabilities = { write: true, list: true, rangeReads: true, suffixReads: false };
  readonly objects = new Map<string, StoredObject & { cacheControl?: string }>();
  inFlight = 0;
  maxInFlight = 0;
  gets = 0;
  rangedGets = 0;
  puts = 0;
  deletes: string[] = [];

  private async tick<T>(f: () => T, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      signal?.throwIfAborted();
      return f();
    } finally {
      this.inFlight--;
    }
  }
  get(key: string, o?: GetOptions) {
    this.gets++;
    if (o?.range) this.rangedGets++;
    return this.tick(() => {
      const v = this.objects.get(key);
      if (!v) return undefined;
      const r = o?.range;
      if (!r) return { ...v, data: v.data.slice(), totalSize: v.data.length };
      if (!("offset" in r)) throw new Error("suffix reads unsupported");
      return { ...v, data: v.data.slice(r.offset, r.offset + r.length), totalSize: v.data.length };
    }, o?.signal);
  }
  put(key: string, data: Uint8Array, o: PutOptions = {}) {
    this.puts++;
    return this.tick(() => {
      this.objects.set(key, {
        data: data.slice(),
        contentEncoding: o.contentEncoding,
        contentType: o.contentType,
        cacheControl: o.cacheControl,
      });
    }, o.signal);
  }
  async stat(key: string) {
    const v = this.objects.get(key);
    return v && { size: v.data.length, contentEncoding: v.contentEncoding };
  }
  async delete(key: string) {
    this.deletes.push(key);
    this.objects.delete(key);
  }
  async *list(prefix: string) {
    for (const k of this.objects.keys()) if (k.startsWith(prefix)) yield k;
  }
}

function info(
  dtype: DataType,
  channels: number,
  size: Vec3,
  offset: Vec3,
  chunk: Vec3,
  extra: Partial<PrecomputedInfo["scales"][0]> = {},
): PrecomputedInfo {
  return {
    "@type": "neuroglancer_multiscale_volume",
    type: "image",
    data_type: dtype,
    num_channels: channels,
    scales: [
      {
        key: "s0",
        size,
        voxel_offset: offset,
        resolution: [1, 1, 1],
        chunk_sizes: [chunk],
        encoding: "raw",
        ...extra,
      },
    ],
  };
}

/** A deterministic, mostly nonzero value for global voxel (x,y,z) and channel c. */
function value(dtype: DataType, x: number, y: number, z: number, c: number): number | bigint {
  const h = ((x * 73856093) ^ (y * 19349663) ^ (z * 83492791) ^ (c * 2654435761)) >>> 0;
  switch (dtype) {
    case "uint8":
      return (h % 255) + 1;
    case "uint16":
      return (h % 65535) + 1;
    case "uint64":
      return (BigInt(h) << 32n) | BigInt(c + 1);
    case "float32":
      return (h % 1000) / 8 + 0.5;
    default:
      return h % 100;
  }
}

/** The block a read of `box` must return: values inside `bounds`, zeros outside. */
function expected(dtype: DataType, channels: number, box: Box, bounds: Box): Block {
  const shape = [...[0, 1, 2].map((d) => box.max[d] - box.min[d]), channels] as Shape4;
  const b = makeBlock(dtype, shape);
  let i = 0;
  for (let c = 0; c < channels; c++) {
    for (let z = box.min[2]; z < box.max[2]; z++) {
      for (let y = box.min[1]; y < box.max[1]; y++) {
        for (let x = box.min[0]; x < box.max[0]; x++, i++) {
          const inside = [x, y, z].every((v, d) => v >= bounds.min[d] && v < bounds.max[d]);
          if (inside) (b.data as unknown as (number | bigint)[])[i] = value(dtype, x, y, z, c);
        }
      }
    }
  }
  return b;
}

async function writeAll(vol: PrecomputedVolume, opts = {}) {
  const bounds = scaleBounds(vol.info.scales[0]);
  const block = expected(vol.info.data_type, vol.info.num_channels, bounds, bounds);
  return vol.writeChunks(0, bounds, block, opts);
}

describe("PrecomputedVolume write → read round trips", () => {
  const cases: { dtype: DataType; offset: Vec3 }[] = [
    { dtype: "uint8", offset: [0, 0, 0] },
    { dtype: "uint16", offset: [10, 20, 3] },
    { dtype: "uint64", offset: [-65, -7, -3] },
    { dtype: "float32", offset: [5, -20, 0] },
  ];
  for (const { dtype, offset } of cases) {
    it(`${dtype}, 3 channels, size 37×29×11, offset ${offset}`, async () => {
      const store = new MemStore();
      const size: Vec3 = [37, 29, 11];
      const vol = PrecomputedVolume.create(store, info(dtype, 3, size, offset, [16, 16, 4]));
      const res = await writeAll(vol);
      assert.equal(res.written, 3 * 2 * 3);
      assert.equal(res.skipped, 0);
      const bpv = { uint8: 1, uint16: 2, uint64: 8, float32: 4 }[dtype as string] ?? 0;
      assert.equal(res.bytes, 37 * 29 * 11 * 3 * bpv);

      const bounds = scaleBounds(vol.info.scales[0]);
      const o = offset;
      const boxes: Box[] = [
        bounds,
        // straddles chunk borders on every axis
        { min: [o[0] + 10, o[1] + 12, o[2] + 2], max: [o[0] + 20, o[1] + 20, o[2] + 7] },
        // straddles the volume's lower and upper edges
        { min: [o[0] - 5, o[1] - 3, o[2] - 1], max: [o[0] + 40, o[1] + 31, o[2] + 12] },
        // a single voxel in an edge chunk
        { min: [o[0] + 36, o[1] + 28, o[2] + 10], max: [o[0] + 37, o[1] + 29, o[2] + 11] },
        // entirely outside
        { min: [o[0] + 100, o[1], o[2]], max: [o[0] + 104, o[1] + 2, o[2] + 2] },
      ];
      for (const box of boxes) {
        const got = await vol.read(0, box);
        assert.deepEqual(got, expected(dtype, 3, box, bounds), JSON.stringify(box));
      }
      // A reopened volume reads the same.
      await vol.writeInfo();
      const again = await PrecomputedVolume.open(store);
      assert.deepEqual(await again.read(0, boxes[2]), expected(dtype, 3, boxes[2], bounds));
    });
  }

  it("stores edge chunks clipped, under §2.2 names", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(
      store,
      info("uint8", 1, [100, 70, 5], [10, 20, 3], [64, 64, 64]),
    );
    await writeAll(vol);
    const sizes = Object.fromEntries([...store.objects].map(([k, v]) => [k, v.data.length]));
    assert.deepEqual(sizes, {
      "s0/10-74_20-84_3-8": 20480,
      "s0/74-110_20-84_3-8": 11520,
      "s0/10-74_84-90_3-8": 1920,
      "s0/74-110_84-90_3-8": 1080,
    });
    const obj = store.objects.get("s0/10-74_20-84_3-8");
    assert.equal(obj?.contentType, "application/octet-stream");
    assert.equal(obj?.cacheControl, "max-age=3600");
    assert.equal(obj?.contentEncoding, undefined);
  });

  it("writes a chunk-aligned sub-box, and other chunks stay missing (zeros)", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(
      store,
      info("uint16", 1, [40, 40, 8], [0, 0, 0], [16, 16, 8]),
    );
    const bounds = scaleBounds(vol.info.scales[0]);
    const part: Box = { min: [16, 32, 0], max: [40, 40, 8] };
    await vol.writeChunks(0, part, expected("uint16", 1, part, bounds));
    assert.deepEqual([...store.objects.keys()].sort(), [
      "s0/16-32_32-40_0-8",
      "s0/32-40_32-40_0-8",
    ]);
    assert.deepEqual(await vol.read(0, bounds), expected("uint16", 1, bounds, part));
  });
});

describe("PrecomputedVolume write options", () => {
  it("gzips when asked and the codec wants it; reads gzip'd chunks back", async () => {
    const plain = new MemStore();
    const zipped = new MemStore();
    const i = info("uint8", 1, [64, 64, 8], [0, 0, 0], [32, 32, 8]);
    const a = await writeAll(PrecomputedVolume.create(plain, i), { compress: "none" });
    const vol = PrecomputedVolume.create(zipped, i);
    const b = await writeAll(vol, { compress: "gzip", gzipLevel: 9 });
    assert.equal(a.written, 4);
    assert.equal(b.written, 4);
    for (const [k, v] of zipped.objects) {
      assert.equal(v.contentEncoding, "gzip");
      assert.deepEqual(gunzipSync(v.data), Buffer.from(plain.objects.get(k)?.data ?? []));
    }
    assert.equal(
      b.bytes,
      [...zipped.objects.values()].reduce((n, v) => n + v.data.length, 0),
    );
    const bounds = scaleBounds(i.scales[0]);
    assert.deepEqual(await vol.read(0, bounds), expected("uint8", 1, bounds, bounds));
  });

  it("does not gzip codecs whose transferGzip is false", async () => {
    // A stand-in for an image codec: raw bytes, but declared as already compressed.
    const fake: ChunkCodec = {
      encoding: "png",
      contentType: "image/png",
      transferGzip: false,
      encode: async (b) => new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength),
      decode: async (bytes, shape, dtype) => ({ dtype, shape, data: new Uint8Array(bytes) }),
    };
    registerCodec(fake, { replace: true });
    const store = new MemStore();
    const vol = PrecomputedVolume.create(
      store,
      info("uint8", 1, [8, 8, 1], [0, 0, 0], [8, 8, 1], { encoding: "png" }),
    );
    try {
      await writeAll(vol, { compress: "gzip" });
    } finally {
      registerCodec(pngCodec, { replace: true });
    }
    const obj = [...store.objects.values()][0];
    assert.equal(obj.contentEncoding, undefined);
    assert.equal(obj.contentType, "image/png");
  });

  it("skips chunks whose nonzero fraction is below skipEmptyRatio", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(store, info("uint8", 2, [8, 4, 1], [0, 0, 0], [4, 4, 1]));
    const bounds = scaleBounds(vol.info.scales[0]);
    const block = makeBlock("uint8", [8, 4, 1, 2]);
    // Left chunk (x 0-4): 3 of 16 voxels nonzero, in different channels. Right chunk: all zero.
    block.data[0] = 1; // (0,0) c0
    block.data[32 + 1] = 1; // (1,0) c1
    block.data[8] = 1; // (0,1) c0
    block.data[32 + 8] = 1; // (0,1) c1, same voxel as above
    let r = await vol.writeChunks(0, bounds, block, { skipEmptyRatio: 0.25 });
    assert.deepEqual(r, { written: 0, skipped: 2, bytes: 0 });
    r = await vol.writeChunks(0, bounds, block, { skipEmptyRatio: 3 / 16 });
    assert.deepEqual([r.written, r.skipped], [1, 1]);
    assert.deepEqual([...store.objects.keys()], ["s0/0-4_0-4_0-1"]);
    // Without the option every chunk is written, even all-zero ones.
    r = await vol.writeChunks(0, bounds, block);
    assert.deepEqual([r.written, r.skipped], [2, 0]);
    assert.deepEqual(await vol.read(0, bounds), block);
  });

  it("bounds the number of requests in flight", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(
      store,
      info("uint8", 1, [64, 64, 64], [0, 0, 0], [8, 8, 8]),
    );
    await writeAll(vol, { concurrency: 5 });
    assert.ok(store.maxInFlight <= 5 && store.maxInFlight > 1, `max ${store.maxInFlight}`);
    store.maxInFlight = 0;
    await vol.read(0, scaleBounds(vol.info.scales[0]));
    assert.ok(store.maxInFlight <= 16 && store.maxInFlight > 1, `max ${store.maxInFlight}`);
  });
});

describe("PrecomputedVolume errors", () => {
  const i = info("uint16", 1, [40, 40, 8], [4, 0, 0], [16, 16, 8]);

  it("rejects boxes that are not chunk-aligned, naming the axis", async () => {
    const vol = PrecomputedVolume.create(new MemStore(), i);
    const box: Box = { min: [4, 0, 0], max: [20, 30, 8] };
    await assert.rejects(
      vol.writeChunks(0, box, makeBlock("uint16", [16, 30, 8, 1])),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /axis y/.test(e.message),
    );
    const box2: Box = { min: [5, 0, 0], max: [20, 16, 8] };
    await assert.rejects(
      vol.writeChunks(0, box2, makeBlock("uint16", [15, 16, 8, 1])),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /axis x/.test(e.message),
    );
  });

  it("rejects a block whose shape or dtype does not match the box", async () => {
    const vol = PrecomputedVolume.create(new MemStore(), i);
    const box: Box = { min: [4, 0, 0], max: [20, 16, 8] };
    await assert.rejects(
      vol.writeChunks(0, box, makeBlock("uint16", [16, 16, 7, 1])),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /axis z/.test(e.message),
    );
    await assert.rejects(
      vol.writeChunks(0, box, makeBlock("uint8", [16, 16, 8, 1])),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /uint8/.test(e.message),
    );
  });

  it("raises a CODEC error naming the key for a chunk of the wrong length", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(store, i);
    await store.put("s0/20-36_0-16_0-8", new Uint8Array(100));
    await assert.rejects(
      vol.read(0, { min: [0, 0, 0], max: [44, 40, 8] }),
      (e) =>
        isVoxportError(e, "CODEC") &&
        e.message.includes("mem://test/s0/20-36_0-16_0-8") &&
        /100 bytes/.test(e.message) &&
        /4096/.test(e.message),
    );
    // Same for a gzip'd object that is not gzip.
    await store.put("s0/20-36_0-16_0-8", new Uint8Array(4096), { contentEncoding: "gzip" });
    await assert.rejects(
      vol.read(0, { min: [20, 0, 0], max: [21, 1, 1] }),
      (e) => isVoxportError(e, "CODEC") && e.message.includes("s0/20-36_0-16_0-8"),
    );
  });

  it("stops on abort", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(store, i);
    const ctrl = new AbortController();
    ctrl.abort();
    await assert.rejects(vol.read(0, scaleBounds(i.scales[0]), { signal: ctrl.signal }), {
      name: "AbortError",
    });
    const late = new AbortController();
    const p = writeAll(vol, { signal: late.signal, concurrency: 1 });
    late.abort();
    await assert.rejects(p, { name: "AbortError" });
    assert.ok(store.objects.size < 9);
  });

  it("rejects a bad scale index", async () => {
    const vol = PrecomputedVolume.create(new MemStore(), i);
    await assert.rejects(vol.read(1, scaleBounds(i.scales[0])), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });
});

describe("PrecomputedVolume.open / create / writeInfo", () => {
  it("create validates but writes nothing; writeInfo writes deterministic JSON", async () => {
    const store = new MemStore();
    const vol = PrecomputedVolume.create(
      store,
      info("uint8", 1, [10, 10, 10], [0, 0, 0], [8, 8, 8]),
    );
    assert.equal(store.objects.size, 0);
    await vol.writeInfo();
    const obj = store.objects.get("info");
    assert.equal(obj?.contentType, "application/json");
    assert.equal(obj?.cacheControl, "no-cache");
    const first = new TextDecoder().decode(obj?.data);
    await vol.writeInfo();
    assert.equal(new TextDecoder().decode(store.objects.get("info")?.data), first);
    assert.throws(
      () => PrecomputedVolume.create(store, info("uint8", 0, [10, 10, 10], [0, 0, 0], [8, 8, 8])),
      (e) => isVoxportError(e, "INVALID_INFO") && e.message.includes("mem://test/info"),
    );
  });

  it("opens gzip'd info and reports missing or broken info", async () => {
    const store = new MemStore();
    await assert.rejects(PrecomputedVolume.open(store), (e) => isVoxportError(e, "NOT_FOUND"));
    const text = JSON.stringify(info("uint8", 1, [10, 10, 10], [0, 0, 0], [8, 8, 8]));
    await store.put("info", gzipSync(text), { contentEncoding: "gzip" });
    const vol = await PrecomputedVolume.open(store);
    assert.deepEqual(vol.info.scales[0].size, [10, 10, 10]);
    await store.put("info", new TextEncoder().encode("{not json"));
    await assert.rejects(
      PrecomputedVolume.open(store),
      (e) => isVoxportError(e, "INVALID_INFO") && e.message.includes("mem://test/info"),
    );
    await store.put(
      "info",
      new TextEncoder().encode(JSON.stringify({ ...JSON.parse(text), num_channels: null })),
    );
    await assert.rejects(
      PrecomputedVolume.open(store),
      (e) => isVoxportError(e, "INVALID_INFO") && e.message.includes("num_channels"),
    );
  });
});

// ---- Encodings × (unsharded, sharded) ----

type Case = {
  encoding: Encoding;
  dtype: DataType;
  channels: number;
  extra?: Partial<ScaleInfo>;
  /** Largest mean absolute error allowed (lossy codecs); exact when absent. */
  tolerance?: number;
};

/** Smooth values (JPEG-friendly) for voxel (x,y,z) channel c; within 0..255 for the test sizes. */
function smoothValue(x: number, y: number, z: number, c: number): number {
  return Math.max(0, Math.min(255, 20 + 40 * c + x + 2 * y + 3 * z));
}

function smoothBlock(box: Box, channels: number): Block {
  const b = makeBlock("uint8", [...boxShape(box), channels] as Shape4);
  let i = 0;
  for (let c = 0; c < channels; c++)
    for (let z = box.min[2]; z < box.max[2]; z++)
      for (let y = box.min[1]; y < box.max[1]; y++)
        for (let x = box.min[0]; x < box.max[0]; x++) b.data[i++] = smoothValue(x, y, z, c);
  return b;
}

function meanAbsError(a: Block, b: Block): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(Number(a.data[i]) - Number(b.data[i]));
  return s / a.data.length;
}

/** §4.6-style spec: several shard files (shard_bits > 0), several minishards per shard. */
function sharding(encoding: Encoding, over: Partial<ShardingSpec> = {}): ShardingSpec {
  const image = encoding === "jpeg" || encoding === "png";
  return {
    "@type": "neuroglancer_uint64_sharded_v1",
    preshift_bits: 1,
    hash: "identity",
    minishard_bits: 1,
    shard_bits: 3,
    minishard_index_encoding: "gzip",
    data_encoding: image ? "raw" : "gzip",
    ...over,
  };
}

const CASES: Case[] = [
  ...(["uint8", "uint16", "uint32", "uint64", "float32"] as DataType[]).flatMap((dtype) =>
    [1, 3].map((channels) => ({ encoding: "raw" as Encoding, dtype, channels })),
  ),
  { encoding: "jpeg", dtype: "uint8", channels: 1, tolerance: 2, extra: { jpeg_quality: 95 } },
  { encoding: "jpeg", dtype: "uint8", channels: 3, tolerance: 4 },
  ...(["uint8", "uint16"] as DataType[]).flatMap((dtype) =>
    [1, 3].map((channels) => ({ encoding: "png" as Encoding, dtype, channels })),
  ),
  ...(["uint32", "uint64"] as DataType[]).flatMap((dtype) =>
    [
      [8, 8, 8],
      [4, 4, 2],
    ].map((bs) => ({
      encoding: "compressed_segmentation" as Encoding,
      dtype,
      channels: 1,
      extra: { compressed_segmentation_block_size: bs as Vec3 },
    })),
  ),
  {
    encoding: "compressed_segmentation",
    dtype: "uint64",
    channels: 2,
    extra: { compressed_segmentation_block_size: [4, 4, 2] },
  },
];

describe("round trips: every encoding × (unsharded, sharded) × dtype", () => {
  // 37×29×11 with chunk 16×16×4: grid 3×2×3, every axis has a clipped edge chunk. The sharding
  // spec gives shards of 2×2×1 chunks: 6 shard files, 2 minishards each.
  const size: Vec3 = [37, 29, 11];
  const offset: Vec3 = [5, -3, 2];
  for (const c of CASES) {
    for (const sharded of [false, true]) {
      const extra = c.extra ?? {};
      const label = `${c.encoding} ${c.dtype}×${c.channels}${extra.compressed_segmentation_block_size ? ` block ${extra.compressed_segmentation_block_size}` : ""}, ${sharded ? "sharded" : "unsharded"}`;
      it(label, async () => {
        const store = new MemStore();
        const i = info(c.dtype, c.channels, size, offset, [16, 16, 4], {
          encoding: c.encoding,
          ...extra,
          ...(sharded ? { sharding: sharding(c.encoding) } : {}),
        });
        const vol = PrecomputedVolume.create(store, i);
        const bounds = scaleBounds(i.scales[0]);
        const block =
          c.tolerance !== undefined
            ? smoothBlock(bounds, c.channels)
            : expected(c.dtype, c.channels, bounds, bounds);
        const res = sharded
          ? await vol.writeShards(0, bounds, block, { gzipLevel: 1 })
          : await vol.writeChunks(0, bounds, block, { compress: "gzip", gzipLevel: 1 });
        assert.equal(res.written, 18);
        const keys = [...store.objects.keys()].sort();
        if (sharded) {
          // Shard number = z bit 0 | x bit 1 << 1 | z bit 1 << 2 (§4.5): 5 and 7 hold no cells.
          assert.deepEqual(
            keys,
            ["0", "1", "2", "3", "4", "6"].map((n) => `s0/${n}.shard`),
          );
          for (const o of store.objects.values()) {
            assert.equal(o.contentEncoding, undefined);
            assert.equal(o.contentType, "application/octet-stream");
          }
        } else {
          assert.equal(keys.length, 18);
        }
        await vol.writeInfo();
        const again = await PrecomputedVolume.open(store);
        const o = offset;
        const boxes: Box[] = [
          bounds,
          { min: [o[0] + 10, o[1] + 12, o[2] + 2], max: [o[0] + 20, o[1] + 20, o[2] + 7] },
          { min: [o[0] - 5, o[1] - 3, o[2] - 1], max: [o[0] + 40, o[1] + 31, o[2] + 12] },
        ];
        for (const box of boxes) {
          const got = await again.read(0, box);
          if (c.tolerance === undefined) {
            assert.deepEqual(got, expected(c.dtype, c.channels, box, bounds), JSON.stringify(box));
          } else {
            const want = makeBlock("uint8", got.shape);
            copyBox(smoothBlock(bounds, c.channels), bounds, want, box);
            assert.deepEqual(got.shape, want.shape);
            const err = meanAbsError(got, want);
            assert.ok(err < c.tolerance, `mean abs error ${err} for ${JSON.stringify(box)}`);
          }
        }
      });
    }
  }
});

describe("codec registry", () => {
  it("registers every encoding voxport writes", () => {
    assert.deepEqual(
      ["compressed_segmentation", "jpeg", "png", "raw"].map((e) => getCodec(e).encoding),
      ["compressed_segmentation", "jpeg", "png", "raw"],
    );
    assert.equal(getCodec("jpeg").contentType, "image/jpeg");
    assert.equal(getCodec("png").transferGzip, false);
    assert.equal(getCodec("compressed_segmentation").transferGzip, true);
  });

  it("validates dtype, channels and parameters before data moves, naming the scale", async () => {
    const scale = info("uint16", 1, [8, 8, 8], [0, 0, 0], [8, 8, 8]).scales[0];
    const jpeg: ScaleInfo = { ...scale, key: "j", encoding: "jpeg" };
    assert.throws(
      () => resolveCodec(jpeg, "uint16", 1, "decode", "mem://x"),
      (e) => isVoxportError(e, "UNSUPPORTED") && /^mem:\/\/x\/j: .*uint16/.test(e.message),
    );
    assert.throws(
      () => resolveCodec(jpeg, "uint8", 2, "encode"),
      (e) => isVoxportError(e, "UNSUPPORTED") && /^scale j: .*2 channel/.test(e.message),
    );
    assert.throws(
      () => resolveCodec({ ...jpeg, jpeg_quality: 0 }, "uint8", 1, "encode"),
      (e) => isVoxportError(e, "INVALID_INFO") && /jpeg_quality/.test(e.message),
    );
    // Reading does not care about the quality.
    assert.equal(resolveCodec({ ...jpeg, jpeg_quality: 0 }, "uint8", 1, "decode").encoding, "jpeg");
    assert.throws(
      () => resolveCodec({ ...scale, encoding: "png" }, "uint32", 1, "encode"),
      (e) => isVoxportError(e, "UNSUPPORTED") && /png/.test(e.message),
    );
    assert.throws(
      () =>
        resolveCodec(
          { ...scale, key: "c", encoding: "compressed_segmentation" },
          "uint32",
          1,
          "encode",
        ),
      (e) => isVoxportError(e, "INVALID_INFO") && /^scale c: .*block_size/.test(e.message),
    );
    assert.throws(
      () => resolveCodec({ ...scale, encoding: "jxl" }, "uint8", 1, "decode"),
      (e) => isVoxportError(e, "UNSUPPORTED") && /no codec for encoding "jxl"/.test(e.message),
    );
    // A write with a bad quality fails before anything is stored.
    const store = new MemStore();
    const vol = PrecomputedVolume.create(
      store,
      info("uint8", 1, [8, 8, 2], [0, 0, 0], [8, 8, 1], { encoding: "jpeg", jpeg_quality: 0 }),
    );
    await assert.rejects(
      writeAll(vol),
      (e) => isVoxportError(e, "INVALID_INFO") && e.message.startsWith("mem://test/s0: "),
    );
    assert.equal(store.puts, 0);
  });
});

// ---- Sharded scales ----

describe("sharded scales", () => {
  it("writes §4.4's worked example byte for byte", async () => {
    const store = new MemStore();
    const i = info("uint8", 1, [4, 4, 2], [0, 0, 0], [2, 2, 2], {
      sharding: sharding("raw", {
        preshift_bits: 0,
        minishard_bits: 1,
        shard_bits: 1,
        minishard_index_encoding: "raw",
        data_encoding: "raw",
      }),
    });
    const vol = PrecomputedVolume.create(store, i);
    const block = makeBlock("uint8", [4, 4, 2, 1]);
    for (let z = 0; z < 2; z++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++) block.data[x + 4 * (y + 4 * z)] = x + 4 * y + 16 * z;
    const res = await vol.writeShards(0, scaleBounds(i.scales[0]), block);
    assert.deepEqual(res, { written: 4, skipped: 0, bytes: 192, shards: 2, emptyShards: 0 });
    const hex = (k: string) => Buffer.from(store.objects.get(k)?.data ?? []).toString("hex");
    const u64 = (n: number) => n.toString(16).padStart(2, "0") + "00".repeat(7);
    const index = u64(16) + u64(40) + u64(40) + u64(64);
    /** A one-chunk minishard index: id delta, offset delta, size 8. */
    const ms = (id: number, off: number) => u64(id) + u64(off) + u64(8);
    assert.equal(
      hex("s0/0.shard"),
      `${index}00010405101114150203060712131617${ms(0, 0)}${ms(1, 8)}`,
    );
    assert.equal(
      hex("s0/1.shard"),
      `${index}08090c0d18191c1d0a0b0e0f1a1b1e1f${ms(2, 0)}${ms(3, 8)}`,
    );
  });

  // grid 3×2×3 (bits 2,1,2): shards of 2×2×1 chunks = 32×32×4 voxels, numbered as above.
  const size: Vec3 = [37, 29, 11];
  const offset: Vec3 = [5, -3, 2];
  const shardedInfo = (over: Partial<ShardingSpec> = {}, dtype: DataType = "uint16") =>
    info(dtype, 1, size, offset, [16, 16, 4], { sharding: sharding("raw", over) });

  it("shardShapeVoxels and shardBoxes agree with shardRegion for every shard", () => {
    const scale = shardedInfo().scales[0];
    assert.deepEqual(shardShapeVoxels(scale), [32, 32, 4]);
    const bounds = scaleBounds(scale);
    const fromSpec: string[] = [];
    for (let n = 0; n < 8; n++) {
      const r = shardRegion(scale.sharding as ShardingSpec, [3, 2, 3], n);
      if (r.end.some((e, d) => e <= r.start[d])) continue;
      const chunk = [16, 16, 4];
      const min = r.start.map((v, d) => offset[d] + chunk[d] * v);
      const max = r.end.map((v, d) => Math.min(offset[d] + chunk[d] * v, bounds.max[d]));
      fromSpec.push(JSON.stringify({ min, max }));
    }
    const boxes = shardBoxes(scale, bounds).map((b) => JSON.stringify(b));
    assert.deepEqual([...boxes].sort(), [...fromSpec].sort());
    assert.equal(boxes.length, 6);
    // Only the shards a box touches; nothing outside the volume.
    assert.deepEqual(shardBoxes(scale, { min: [30, -100, 5], max: [40, 0, 7] }), [
      { min: [5, -3, 2], max: [37, 26, 6] },
      { min: [37, -3, 2], max: [42, 26, 6] },
      { min: [5, -3, 6], max: [37, 26, 10] },
      { min: [37, -3, 6], max: [42, 26, 10] },
    ]);
    assert.deepEqual(shardBoxes(scale, { min: [0, 0, 0], max: [5, 5, 5] }), []);
    assert.throws(
      () => shardShapeVoxels(info("uint8", 1, size, offset, [16, 16, 4]).scales[0]),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });

  it("a sharded chunk read costs ≤ 3 ranged reads cold and 1 warm", async () => {
    const store = new MemStore();
    // preshift 1, minishard 1: cells (0,0,0) and (1,0,0) (codes 0 and 1) share minishard 0 of
    // shard 0; (0,1,0) (code 2) is minishard 1 of the same shard.
    const i = shardedInfo();
    const bounds = scaleBounds(i.scales[0]);
    await PrecomputedVolume.create(store, i).writeShards(
      0,
      bounds,
      expected("uint16", 1, bounds, bounds),
    );
    const vol = PrecomputedVolume.create(store, i);
    const voxel = (cx: number, cy: number, cz: number): Box => ({
      min: [offset[0] + 16 * cx + 1, offset[1] + 16 * cy + 1, offset[2] + 4 * cz + 1],
      max: [offset[0] + 16 * cx + 2, offset[1] + 16 * cy + 2, offset[2] + 4 * cz + 2],
    });
    const readCounting = async (box: Box) => {
      store.gets = 0;
      store.rangedGets = 0;
      assert.deepEqual(await vol.read(0, box), expected("uint16", 1, box, bounds));
      assert.equal(store.gets, store.rangedGets, "only ranged reads");
      return store.rangedGets;
    };
    assert.equal(await readCounting(voxel(0, 0, 0)), 3, "cold: index entry, minishard, chunk");
    assert.equal(await readCounting(voxel(0, 0, 0)), 1, "warm: the chunk only");
    assert.equal(await readCounting(voxel(1, 0, 0)), 1, "same minishard: the chunk only");
    assert.equal(await readCounting(voxel(0, 1, 0)), 3, "another minishard: cold again");
    // A missing shard file costs one read (and is not cached, so a later write is seen).
    const empty = PrecomputedVolume.create(new MemStore(), i);
    const s2 = empty.store as MemStore;
    assert.deepEqual(await empty.read(0, voxel(1, 1, 1)), makeBlock("uint16", [1, 1, 1, 1]));
    assert.equal(s2.rangedGets, 1);
    assert.equal(s2.gets, 1);
  });

  it("rejects boxes that are not unions of whole shards, naming scale and axis", async () => {
    const i = shardedInfo();
    const vol = PrecomputedVolume.create(new MemStore(), i);
    // Shards are 32×32×4 voxels from (5,-3,2); z min 4 is off the shard grid.
    const box: Box = { min: [5, -3, 4], max: [37, 26, 6] };
    const block = makeBlock("uint16", [32, 29, 2, 1]);
    await assert.rejects(
      vol.writeShards(0, box, block),
      (e) =>
        isVoxportError(e, "INVALID_ARGUMENT") &&
        /scale s0/.test(e.message) &&
        /axis z: min 4 is not on the shard grid/.test(e.message),
    );
    // writeChunks takes chunk-aligned boxes on unsharded scales, but needs shards here.
    const chunkAligned: Box = { min: [5, -3, 2], max: [21, 13, 6] };
    await assert.rejects(
      vol.writeChunks(0, chunkAligned, makeBlock("uint16", [16, 16, 4, 1])),
      (e) =>
        isVoxportError(e, "INVALID_ARGUMENT") &&
        /sharded/.test(e.message) &&
        /axis x: max 21/.test(e.message) &&
        /writeShards/.test(e.message),
    );
    const unsharded = PrecomputedVolume.create(
      new MemStore(),
      info("uint8", 1, size, offset, [16, 16, 4]),
    );
    await assert.rejects(
      unsharded.writeShards(
        0,
        scaleBounds(unsharded.info.scales[0]),
        makeBlock("uint8", [37, 29, 11, 1]),
      ),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && /not sharded/.test(e.message),
    );
  });

  it("writes shard by shard: other shards stay missing; writeChunks routes aligned boxes", async () => {
    const store = new MemStore();
    const i = shardedInfo();
    const vol = PrecomputedVolume.create(store, i);
    const bounds = scaleBounds(i.scales[0]);
    // The last x shard (5 voxels wide, clipped) at z shard 2 (the clipped z slab): shard 6.
    const part: Box = { min: [37, -3, 10], max: [42, 26, 13] };
    const r = await vol.writeShards(0, part, expected("uint16", 1, part, bounds));
    assert.deepEqual(r, { ...r, written: 2, skipped: 0, shards: 1, emptyShards: 0 });
    assert.deepEqual([...store.objects.keys()], ["s0/6.shard"]);
    assert.deepEqual(await vol.read(0, bounds), expected("uint16", 1, bounds, part));
    // Through writeChunks (compress is ignored: shards are never transfer-encoded).
    const part2: Box = { min: [5, -3, 2], max: [37, 26, 10] };
    const r2 = await vol.writeChunks(0, part2, expected("uint16", 1, part2, bounds), {
      compress: "gzip",
    });
    assert.equal(r2.written, 8);
    assert.deepEqual([...store.objects.keys()].sort(), ["s0/0.shard", "s0/1.shard", "s0/6.shard"]);
    for (const o of store.objects.values()) assert.equal(o.contentEncoding, undefined);
    // The volume's cached minishard indexes were dropped: the new shards are seen at once.
    const both = expected("uint16", 1, bounds, bounds);
    const want = makeBlock("uint16", [37, 29, 11, 1]);
    for (const b of [part, part2]) copyBox(expected("uint16", 1, b, bounds), b, want, bounds);
    assert.deepEqual(await vol.read(0, bounds), want);
    assert.notDeepEqual(want, both);
    // readChunk reads one chunk by its box.
    const cb: Box = { min: [37, 13, 10], max: [42, 26, 13] };
    assert.deepEqual(await vol.readChunk(0, cb), expected("uint16", 1, cb, bounds));
    assert.equal(await vol.readChunk(0, { min: [5, 13, 10], max: [21, 26, 13] }), undefined);
    await assert.rejects(vol.readChunk(0, { min: [5, 13, 10], max: [20, 26, 13] }), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });

  it("leaves out skipped chunks, deletes a stale shard whose chunks are all skipped", async () => {
    const store = new MemStore();
    const i = shardedInfo();
    const vol = PrecomputedVolume.create(store, i);
    const bounds = scaleBounds(i.scales[0]);
    await vol.writeShards(0, bounds, expected("uint16", 1, bounds, bounds));
    assert.equal(store.objects.size, 6);
    // Now all zero except one voxel in chunk (0,0,0): shard 0 keeps one chunk, the rest go.
    const block = makeBlock("uint16", [37, 29, 11, 1]);
    block.data[0] = 7;
    const before = await vol.read(0, bounds); // fills the minishard index cache
    assert.notDeepEqual(before, block);
    const r = await vol.writeShards(0, bounds, block, { skipEmptyRatio: 1 / 1024 });
    assert.deepEqual(r, { ...r, written: 1, skipped: 17, shards: 1, emptyShards: 5 });
    assert.deepEqual([...store.objects.keys()], ["s0/0.shard"]);
    assert.deepEqual(
      store.deletes.sort(),
      ["1", "2", "3", "4", "6"].map((n) => `s0/${n}.shard`),
    );
    assert.deepEqual(await vol.read(0, bounds), block);
    // zeroSkipped zeroes the skipped chunks in the caller's block: chunk (0,0,0) is dense and
    // kept; every other chunk has a single nonzero voxel and is skipped and zeroed.
    const sparse = makeBlock("uint16", [37, 29, 11, 1]);
    const kept: Box = { min: [5, -3, 2], max: [21, 13, 6] };
    copyBox(expected("uint16", 1, kept, bounds), kept, sparse, bounds);
    sparse.data[sparse.data.length - 1] = 9; // in the last chunk
    const want = makeBlock("uint16", [37, 29, 11, 1]);
    copyBox(expected("uint16", 1, kept, bounds), kept, want, bounds);
    const r2 = await vol.writeShards(0, bounds, sparse, { skipEmptyRatio: 0.5, zeroSkipped: true });
    assert.deepEqual([r2.written, r2.skipped, r2.shards, r2.emptyShards], [1, 17, 1, 5]);
    assert.deepEqual(sparse, want);
    assert.deepEqual(await vol.read(0, bounds), want);
  });

  it("murmurhash3_x86_128: reads any shards; writes only the whole volume", async () => {
    const spec = sharding("raw", {
      hash: "murmurhash3_x86_128",
      preshift_bits: 0,
      minishard_bits: 2,
      shard_bits: 2,
    });
    const i = info("uint32", 1, size, offset, [16, 16, 4], { sharding: spec });
    const scale = i.scales[0];
    const bounds = scaleBounds(scale);
    const data = expected("uint32", 1, bounds, bounds);

    // Shards built independently of the volume writer: encode each chunk, group by shard.
    const reference = new MemStore();
    const byShard = new Map<bigint, ShardChunk[]>();
    for (let z = 0; z < 3; z++)
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 3; x++) {
          const cb = chunkBox(scale, [x, y, z]);
          const id = encodeCompressedMorton([3, 2, 3], [x, y, z]);
          const chunk = expected("uint32", 1, cb, bounds);
          const bytes = new Uint8Array(chunk.data.buffer);
          const { shard } = shardAndMinishard(spec, id);
          byShard.set(shard, [...(byShard.get(shard) ?? []), { id, data: bytes }]);
        }
    assert.ok(byShard.size > 1, "several shard files");
    for (const [shard, chunks] of byShard) {
      await reference.put(`s0/${shardFileName(spec, shard)}`, encodeShard(spec, chunks));
    }
    const ref = PrecomputedVolume.create(reference, i);
    assert.deepEqual(await ref.read(0, bounds), data);
    const box: Box = { min: [10, 0, 3], max: [30, 20, 9] };
    assert.deepEqual(await ref.read(0, box), expected("uint32", 1, box, bounds));

    // The writer accepts the whole volume and produces the same files.
    const store = new MemStore();
    const vol = PrecomputedVolume.create(store, i);
    const r = await vol.writeShards(0, bounds, data, { gzipLevel: 6 });
    assert.equal(r.shards, byShard.size);
    assert.deepEqual([...store.objects.keys()].sort(), [...reference.objects.keys()].sort());
    for (const [k, v] of store.objects) {
      assert.deepEqual(
        splitShard(spec, v.data),
        splitShard(spec, reference.objects.get(k)?.data as Uint8Array),
        k,
      );
    }
    assert.deepEqual(await vol.read(0, bounds), data);
    // Anything smaller is refused, and shards have no box shape.
    const part: Box = { min: [5, -3, 2], max: [37, 26, 6] };
    await assert.rejects(
      vol.writeShards(0, part, expected("uint32", 1, part, bounds)),
      (e) =>
        isVoxportError(e, "INVALID_ARGUMENT") &&
        /murmurhash3_x86_128/.test(e.message) &&
        /whole volume/.test(e.message),
    );
    assert.throws(
      () => shardBoxes(scale, bounds),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
  });

  it("stops on abort", async () => {
    const store = new MemStore();
    const i = shardedInfo();
    const vol = PrecomputedVolume.create(store, i);
    const bounds = scaleBounds(i.scales[0]);
    const ctrl = new AbortController();
    const p = vol.writeShards(0, bounds, expected("uint16", 1, bounds, bounds), {
      signal: ctrl.signal,
      concurrency: 1,
    });
    ctrl.abort();
    await assert.rejects(p, { name: "AbortError" });
    assert.ok(store.objects.size < 6);
  });
});
