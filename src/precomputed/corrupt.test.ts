/**
 * Corrupt input, read at the volume level through a memory KvStore: every case must fail with a
 * VoxportError whose message names the object (`<store url>/<scale key>/<chunk or shard name>`),
 * never return a silently wrong array.
 */
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { clearMemoryStore, MemoryKvStore } from "../storage/drivers/memory.js";
import { encodeJpeg } from "./codecs/jpeg.js";
import { scaleBounds } from "./grid.js";
import { encodeShard } from "./sharding/encoder.js";
import type { PrecomputedInfo, ScaleInfo, ShardingSpec } from "./types.js";
import { PrecomputedVolume } from "./volume.js";

const URL = "mem://corrupt";

/** 32×32×8, chunks 16×16×4: grid 2×2×2. Sharded: shards 0 (z 0–4) and 1 (z 4–8), 2 minishards. */
const SHARDING: ShardingSpec = {
  "@type": "neuroglancer_uint64_sharded_v1",
  preshift_bits: 1,
  hash: "identity",
  minishard_bits: 1,
  shard_bits: 1,
  minishard_index_encoding: "gzip",
  data_encoding: "gzip",
};

function makeInfo(dtype: DataType, scale: Partial<ScaleInfo> = {}): PrecomputedInfo {
  return {
    type: dtype === "uint8" ? "image" : "segmentation",
    data_type: dtype,
    num_channels: 1,
    scales: [
      {
        key: "s0",
        size: [32, 32, 8],
        resolution: [4, 4, 40],
        chunk_sizes: [[16, 16, 4]],
        encoding: "raw",
        ...scale,
      },
    ],
  };
}

function ramp(dtype: DataType): Block {
  const b = makeBlock(dtype, [32, 32, 8, 1]);
  for (let i = 0; i < b.data.length; i++) {
    (b.data as unknown as (number | bigint)[])[i] = dtype === "uint64" ? BigInt(i % 50) : i % 50;
  }
  return b;
}

async function written(dtype: DataType, scale: Partial<ScaleInfo> = {}) {
  const store = new MemoryKvStore(URL);
  const vol = PrecomputedVolume.create(store, makeInfo(dtype, scale));
  await vol.writeInfo();
  const bounds = scaleBounds(vol.info.scales[0]);
  await vol.writeChunks(0, bounds, ramp(dtype));
  return { store, bounds, vol: await PrecomputedVolume.open(store) };
}

/** Rejects with `code`, naming `key` (relative to the store) and matching `detail`. */
function failsNaming(code: "CODEC" | "UNSUPPORTED" | "INVALID_INFO", key: string, detail: RegExp) {
  return (e: unknown) => {
    assert.ok(isVoxportError(e, code), `expected ${code}, got ${String(e)}`);
    assert.ok(e.message.includes(`${URL}/${key}`), `message does not name ${key}: ${e.message}`);
    assert.match(e.message, detail);
    return true;
  };
}

const u64 = (view: DataView, at: number) => Number(view.getBigUint64(at, true));

describe("corrupt input: sharded scales", () => {
  beforeEach(() => clearMemoryStore(URL));

  it("reads a healthy dataset back (the baseline for the cases below)", async () => {
    const { vol, bounds } = await written("uint8", { sharding: SHARDING });
    assert.deepEqual(await vol.read(0, bounds), ramp("uint8"));
  });

  it("truncated shard: inside the shard index, or cutting off the minishard indexes", async () => {
    for (const keep of [20, 8, 0]) {
      const { store, vol, bounds } = await written("uint8", { sharding: SHARDING });
      const full = (await store.get("s0/0.shard"))?.data as Uint8Array;
      await store.put("s0/0.shard", full.subarray(0, keep));
      await assert.rejects(
        vol.read(0, bounds),
        failsNaming("CODEC", "s0/0.shard", /truncated|past the end/),
        `kept ${keep} bytes`,
      );
    }
    const { store, vol, bounds } = await written("uint8", { sharding: SHARDING });
    const full = (await store.get("s0/1.shard"))?.data as Uint8Array;
    await store.put("s0/1.shard", full.subarray(0, full.length - 10));
    await assert.rejects(
      vol.read(0, bounds),
      failsNaming("CODEC", "s0/1.shard", /past the end|truncated/),
    );
  });

  it("bad minishard index: corrupt gzip, wrong length, chunk range past the end", async () => {
    const { store, vol, bounds } = await written("uint8", { sharding: SHARDING });
    const good = (await store.get("s0/0.shard"))?.data as Uint8Array;
    const view = new DataView(good.buffer, good.byteOffset, good.byteLength);
    const indexEnd = 32;
    const start = indexEnd + u64(view, 0);
    const end = indexEnd + u64(view, 8);

    const garbled = good.slice();
    garbled.fill(0xa5, start + 10, end);
    await store.put("s0/0.shard", garbled);
    await assert.rejects(vol.read(0, bounds), failsNaming("CODEC", "s0/0.shard", /gzip|minishard/));

    // Raw minishard indexes: a length that is not a multiple of 24, then a chunk past the end.
    const raw = { ...SHARDING, minishard_index_encoding: "raw" as const };
    clearMemoryStore(URL);
    const w = await written("uint8", { sharding: raw });
    const shard = (await w.store.get("s0/0.shard"))?.data as Uint8Array;
    const v = new DataView(shard.buffer, shard.byteOffset, shard.byteLength);
    const bad = shard.slice();
    new DataView(bad.buffer).setBigUint64(8, BigInt(u64(v, 8) - 1), true);
    await w.store.put("s0/0.shard", bad);
    await assert.rejects(
      w.vol.read(0, w.bounds),
      failsNaming("CODEC", "s0/0.shard", /multiple of 24/),
    );
    const past = shard.slice();
    const ms0 = 32 + u64(v, 0); // minishard 0 index: [3][n] uint64, n = 2; sizes at row 2
    new DataView(past.buffer).setBigUint64(ms0 + 8 * 4, 1_000_000n, true);
    await w.store.put("s0/0.shard", past);
    await assert.rejects(
      w.vol.read(0, w.bounds),
      failsNaming("CODEC", "s0/0.shard", /past the end/),
    );
  });

  it("wrong chunk length: raw chunk of the wrong size, cseg not a multiple of 4", async () => {
    const { store, vol, bounds } = await written("uint8", { sharding: SHARDING });
    const chunks = [0n, 1n, 2n, 3n].map((id) => ({ id, data: new Uint8Array(16 * 16 * 4) }));
    chunks[3].data = new Uint8Array(1000);
    await store.put("s0/0.shard", encodeShard(SHARDING, chunks));
    await assert.rejects(
      vol.read(0, bounds),
      failsNaming("CODEC", "s0/0.shard", /chunk 3 .*1000 bytes.*1024/),
    );

    clearMemoryStore(URL);
    const bs = { compressed_segmentation_block_size: [8, 8, 4] as [number, number, number] };
    const cs = await written("uint32", {
      encoding: "compressed_segmentation",
      ...bs,
      sharding: SHARDING,
    });
    assert.deepEqual(await cs.vol.read(0, cs.bounds), ramp("uint32"));
    const odd = [4n, 5n, 6n, 7n].map((id) => ({ id, data: new Uint8Array(4 * 40 + 2) }));
    await cs.store.put("s0/1.shard", encodeShard(SHARDING, odd));
    // A fresh handle: `cs.vol` caches the old shard's minishard indexes (shards are immutable).
    const fresh = await PrecomputedVolume.open(cs.store);
    await assert.rejects(
      fresh.read(0, cs.bounds),
      failsNaming("CODEC", "s0/1.shard", /compressed_segmentation.*162 bytes/),
    );
  });

  it("jpeg of the wrong area", async () => {
    const jpeg = { ...SHARDING, data_encoding: "raw" as const };
    const { store, vol } = await written("uint8", { encoding: "jpeg", sharding: jpeg });
    const wrong = await encodeJpeg(makeBlock("uint8", [16, 16, 3, 1]));
    const chunks = [0n, 1n, 2n, 3n].map((id) => ({ id, data: wrong }));
    await store.put("s0/0.shard", encodeShard(jpeg, chunks));
    await assert.rejects(
      vol.read(0, { min: [0, 0, 0], max: [1, 1, 1] }),
      failsNaming("CODEC", "s0/0.shard", /chunk 0 .*1024 pixels.*768 pixels/),
    );
  });

  it("a shard stored with Content-Encoding gzip (not range-readable)", async () => {
    const { store, vol, bounds } = await written("uint8", { sharding: SHARDING });
    const data = (await store.get("s0/0.shard"))?.data as Uint8Array;
    await store.put("s0/0.shard", data, { contentEncoding: "gzip" });
    await assert.rejects(
      vol.read(0, bounds),
      failsNaming("CODEC", "s0/0.shard", /Content-Encoding gzip/),
    );
  });
});

describe("corrupt input: unsharded scales", () => {
  beforeEach(() => clearMemoryStore(URL));
  const first: Box = { min: [0, 0, 0], max: [16, 16, 4] };

  it("raw chunk of the wrong size", async () => {
    const { store, vol } = await written("uint8");
    await store.put("s0/0-16_0-16_0-4", new Uint8Array(1023));
    await assert.rejects(
      vol.read(0, first),
      failsNaming("CODEC", "s0/0-16_0-16_0-4", /1023 bytes.*1024/),
    );
  });

  it("compressed_segmentation chunk whose length is not a multiple of 4", async () => {
    const bs = { compressed_segmentation_block_size: [4, 4, 2] as [number, number, number] };
    const { store, vol } = await written("uint64", { encoding: "compressed_segmentation", ...bs });
    await store.put("s0/16-32_16-32_4-8", new Uint8Array(4 * 100 + 3));
    await assert.rejects(
      vol.read(0, { min: [20, 20, 5], max: [21, 21, 6] }),
      failsNaming("CODEC", "s0/16-32_16-32_4-8", /403 bytes/),
    );
  });

  it("jpeg of the wrong area", async () => {
    const { store, vol } = await written("uint8", { encoding: "jpeg" });
    await store.put("s0/0-16_0-16_0-4", await encodeJpeg(makeBlock("uint8", [16, 8, 4, 1])));
    await assert.rejects(
      vol.read(0, first),
      failsNaming("CODEC", "s0/0-16_0-16_0-4", /1024 pixels.*512 pixels/),
    );
  });
});

describe("corrupt input: info", () => {
  beforeEach(() => clearMemoryStore(URL));

  it("unknown encoding: rejected when the info is opened, naming the field", async () => {
    const store = new MemoryKvStore(URL);
    const text = JSON.stringify(makeInfo("uint8", { encoding: "lz4" as ScaleInfo["encoding"] }));
    await store.put("info", new TextEncoder().encode(text));
    await assert.rejects(
      PrecomputedVolume.open(store),
      failsNaming("INVALID_INFO", "info", /scales\[0\]\.encoding/),
    );
  });

  it("an encoding the format knows but voxport cannot decode: read names the scale", async () => {
    const store = new MemoryKvStore(URL);
    const text = JSON.stringify(makeInfo("uint8", { encoding: "jxl" }));
    await store.put("info", new TextEncoder().encode(text));
    const vol = await PrecomputedVolume.open(store);
    await store.put("s0/0-16_0-16_0-4", new Uint8Array(10));
    await assert.rejects(
      vol.read(0, { min: [0, 0, 0], max: [4, 4, 4] }),
      failsNaming("UNSUPPORTED", "s0", /no codec for encoding "jxl"/),
    );
  });
});
