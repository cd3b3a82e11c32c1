import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { isVoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type Shape4, type Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import type { GetOptions, KvStore, PutOptions, StoredObject } from "../storage/kvstore.js";
import { type ChunkCodec, registerCodec } from "./codecs/registry.js";
import { scaleBounds } from "./grid.js";
import type { PrecomputedInfo } from "./types.js";
import { PrecomputedVolume } from "./volume.js";

/** Minimal in-memory KvStore: copies on put, records put options, counts requests in flight. */
class MemStore implements KvStore {
  readonly url = "mem://test";
  readonly capabilities = { write: true, list: true, rangeReads: false, suffixReads: false };
  readonly objects = new Map<string, StoredObject & { cacheControl?: string }>();
  inFlight = 0;
  maxInFlight = 0;
  gets = 0;

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
    return this.tick(() => {
      const v = this.objects.get(key);
      return v && { ...v, data: v.data.slice() };
    }, o?.signal);
  }
  put(key: string, data: Uint8Array, o: PutOptions = {}) {
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
    await writeAll(vol, { compress: "gzip" });
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

  it("refuses sharded scales for now", async () => {
    const sharded = info("uint16", 1, [40, 40, 8], [0, 0, 0], [16, 16, 8], {
      sharding: {
        "@type": "neuroglancer_uint64_sharded_v1",
        preshift_bits: 0,
        hash: "identity",
        minishard_bits: 0,
        shard_bits: 0,
        minishard_index_encoding: "gzip",
        data_encoding: "gzip",
      },
    });
    const vol = PrecomputedVolume.create(new MemStore(), sharded);
    await assert.rejects(vol.read(0, scaleBounds(sharded.scales[0])), (e) =>
      isVoxportError(e, "UNSUPPORTED"),
    );
    await assert.rejects(
      vol.writeChunks(0, scaleBounds(sharded.scales[0]), makeBlock("uint16", [40, 40, 8, 1])),
      (e) => isVoxportError(e, "UNSUPPORTED") && /sharded/.test(e.message),
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
