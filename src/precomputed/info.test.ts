import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import { parseInfo, serializeInfo } from "./info.js";
import type { PrecomputedInfo } from "./types.js";

/** §1.4 first example. */
const example = () => ({
  "@type": "neuroglancer_multiscale_volume",
  type: "image",
  data_type: "uint8",
  num_channels: 1,
  scales: [
    {
      key: "8_8_40",
      size: [100, 70, 5],
      voxel_offset: [10, 20, 3],
      resolution: [8, 8, 40],
      chunk_sizes: [[64, 64, 64]],
      encoding: "raw",
    },
    {
      key: "16_16_40",
      size: [50, 35, 5],
      voxel_offset: [5, 10, 3],
      resolution: [16, 16, 40],
      chunk_sizes: [[64, 64, 64]],
      encoding: "raw",
    },
  ],
});

/** §1.4 second example (TS docs), wrapped in a 2-channel uint8 image info. */
const shardedExample = () => ({
  type: "image",
  data_type: "uint8",
  num_channels: 2,
  scales: [
    {
      chunk_sizes: [[64, 64, 64]],
      encoding: "raw",
      key: "8_8_8",
      resolution: [8.0, 8.0, 8.0],
      size: [34432, 39552, 51508],
      voxel_offset: [20, 30, 40],
      sharding: {
        "@type": "neuroglancer_uint64_sharded_v1",
        data_encoding: "gzip",
        hash: "identity",
        minishard_bits: 6,
        minishard_index_encoding: "gzip",
        preshift_bits: 9,
        shard_bits: 15,
      },
    },
  ],
});

// biome-ignore lint/suspicious/noExplicitAny: tests mutate arbitrary JSON
type Json = any;

function rejects(json: unknown, ...fragments: string[]): void {
  assert.throws(
    () => parseInfo(json, "mem://t/info"),
    (e: unknown) => {
      assert.ok(isVoxportError(e, "INVALID_INFO"), `expected INVALID_INFO, got ${e}`);
      assert.match(e.message, /mem:\/\/t\/info/);
      for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" lacks "${f}"`);
      return true;
    },
  );
}

function variant(mutate: (j: Json) => void, base: () => Json = example): Json {
  const j = base();
  mutate(j);
  return j;
}

describe("parseInfo", () => {
  it("accepts the §1.4 examples", () => {
    const a = parseInfo(example(), "a");
    assert.equal(a.scales.length, 2);
    assert.deepEqual(a.scales[1].voxel_offset, [5, 10, 3]);
    const b = parseInfo(shardedExample(), "b");
    assert.equal(b.scales[0].sharding?.preshift_bits, 9);
  });

  it("accepts each of the 8 data types with raw, and cseg/jpeg/png within their tables", () => {
    for (const dt of ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "float32"]) {
      parseInfo(
        variant((j) => (j.data_type = dt)),
        dt,
      );
    }
    const cseg = variant((j) => {
      j.type = "segmentation";
      j.data_type = "uint64";
      for (const s of j.scales) {
        s.encoding = "compressed_segmentation";
        s.compressed_segmentation_block_size = [8, 8, 8];
      }
    });
    parseInfo(cseg, "cseg");
    parseInfo(
      variant((j) => {
        j.num_channels = 3;
        j.scales[0].encoding = "jpeg";
        j.scales[0].jpeg_quality = 90;
      }),
      "jpeg",
    );
    parseInfo(
      variant((j) => {
        j.data_type = "uint16";
        j.num_channels = 4;
        j.scales[0].encoding = "png";
        j.scales[0].png_level = 9;
      }),
      "png",
    );
  });

  it("normalises case-insensitive type and encoding, keeps unknown keys", () => {
    const info = parseInfo(
      variant((j) => {
        j.type = "Image";
        j.scales[0].encoding = "RAW";
        j.spatial_index = { resolution: [1, 1, 1] };
      }),
      "x",
    );
    assert.equal(info.type, "image");
    assert.equal(info.scales[0].encoding, "raw");
    assert.deepEqual((info as Json).spatial_index, { resolution: [1, 1, 1] });
  });

  it("names the field for each rule violation", () => {
    rejects(
      variant((j) => (j["@type"] = "neuroglancer_skeletons")),
      "@type",
    );
    rejects(
      variant((j) => (j.type = "mesh")),
      "type",
    );
    rejects(
      variant((j) => (j.data_type = "float64")),
      "data_type",
    );
    rejects(
      variant((j) => delete j.data_type),
      "data_type",
    );
    rejects(
      variant((j) => (j.num_channels = 0)),
      "num_channels",
    );
    rejects(
      variant((j) => (j.num_channels = 1.5)),
      "num_channels",
    );
    rejects(
      variant((j) => {
        j.type = "segmentation";
        j.data_type = "uint32";
        j.num_channels = 2;
      }),
      "num_channels",
      "segmentation",
    );
    rejects(
      variant((j) => (j.scales = [])),
      "scales",
    );
    rejects(
      variant((j) => (j.scales[0].key = "")),
      "scales[0].key",
    );
    rejects(
      variant((j) => (j.scales[0].size = [100, 0, 5])),
      "scales[0].size[1]",
    );
    rejects(
      variant((j) => (j.scales[0].size = [100, 70])),
      "scales[0].size",
    );
    rejects(
      variant((j) => (j.scales[0].voxel_offset = [1.5, 0, 0])),
      "scales[0].voxel_offset[0]",
    );
    rejects(
      variant((j) => (j.scales[1].chunk_sizes = [[64, 64, 0]])),
      "scales[1].chunk_sizes[0]",
    );
    rejects(
      variant((j) => (j.scales[1].chunk_sizes = [])),
      "scales[1].chunk_sizes",
    );
    rejects(
      variant((j) => (j.scales[0].resolution = [0, 8, 40])),
      "scales[0].resolution[0]",
    );
    rejects(
      variant((j) => (j.scales[0].resolution = [8, -8, 40])),
      "scales[0].resolution[1]",
    );
    rejects(
      variant((j) => (j.scales[0].resolution = [8, 8, Infinity])),
      "scales[0].resolution[2]",
    );
    rejects(
      variant((j) => (j.scales[0].encoding = "zstd")),
      "scales[0].encoding",
    );
    rejects(
      variant((j) => (j.mesh = "mesh")),
      "mesh",
      "segmentation",
    );
    rejects(
      variant((j) => (j.scales[0].hidden = "no")),
      "scales[0].hidden",
    );
  });

  it("enforces the encoding / data type / channel table", () => {
    rejects(
      variant((j) => {
        j.data_type = "uint16";
        j.scales[1].encoding = "jpeg";
      }),
      "scales[1].encoding",
      "uint16",
    );
    rejects(
      variant((j) => {
        j.num_channels = 2;
        j.scales[0].encoding = "jpeg";
      }),
      "scales[0].encoding",
      "num_channels 2",
    );
    rejects(
      variant((j) => {
        j.num_channels = 5;
        j.scales[0].encoding = "png";
      }),
      "scales[0].encoding",
    );
    rejects(
      variant((j) => {
        j.data_type = "float32";
        j.scales[0].encoding = "compressed_segmentation";
        j.scales[0].compressed_segmentation_block_size = [8, 8, 8];
      }),
      "scales[0].encoding",
      "float32",
    );
    rejects(
      variant((j) => (j.scales[0].jpeg_quality = 80)),
      "scales[0].jpeg_quality",
    );
    rejects(
      variant((j) => (j.scales[0].png_level = 3)),
      "scales[0].png_level",
    );
  });

  it("requires compressed_segmentation_block_size if and only if cseg", () => {
    rejects(
      variant((j) => {
        j.data_type = "uint32";
        j.scales[0].encoding = "compressed_segmentation";
      }),
      "scales[0].compressed_segmentation_block_size",
      "required",
    );
    rejects(
      variant((j) => (j.scales[1].compressed_segmentation_block_size = [8, 8, 8])),
      "scales[1].compressed_segmentation_block_size",
    );
  });

  it("requires exactly one chunk size on sharded scales, and a valid spec", () => {
    rejects(
      variant((j) => j.scales[0].chunk_sizes.push([32, 32, 32]), shardedExample),
      "scales[0].chunk_sizes",
      "exactly one",
    );
    rejects(
      variant((j) => {
        j.scales[0].sharding.hash = "md5";
      }, shardedExample),
      "scales[0].sharding.hash",
    );
    rejects(
      variant((j) => {
        j.scales[0].sharding.shard_bits = 60;
      }, shardedExample),
      "scales[0].sharding.shard_bits",
    );
  });

  it('says "omit the key instead of null" for optional keys set to null', () => {
    rejects(
      variant((j) => (j.scales[0].sharding = null)),
      "scales[0].sharding",
      "omit the key instead of null",
    );
    rejects(
      variant((j) => (j.mesh = null)),
      "mesh",
      "omit the key instead of null",
    );
    rejects(
      variant((j) => (j.scales[1].voxel_offset = null)),
      "scales[1].voxel_offset",
      "omit the key",
    );
    // A required key set to null is a plain type error, not advice to omit it.
    assert.throws(
      () =>
        parseInfo(
          variant((j) => (j.scales[0].resolution = null)),
          "x",
        ),
      (e: Error) => e.message.includes("scales[0].resolution") && !e.message.includes("omit"),
    );
  });

  it("rejects non-objects", () => {
    rejects(null);
    rejects("info");
  });
});

describe("serializeInfo", () => {
  it('puts "@type" first, omits undefined keys and writes no null', () => {
    const info = parseInfo(
      variant((j) => {
        delete j["@type"];
        j.scales[0].hidden = undefined;
      }),
      "x",
    );
    const text = serializeInfo(info);
    assert.ok(text.startsWith('{\n  "@type": "neuroglancer_multiscale_volume",'));
    assert.ok(!text.includes("null"));
    assert.ok(!text.includes("hidden"));
    assert.ok(text.includes('"chunk_sizes": [[64, 64, 64]]'));
    assert.ok(text.endsWith("}\n"));
  });

  it("is deterministic regardless of input key order, and round-trips", () => {
    const a = parseInfo(example(), "a");
    const reversed = (o: Json): Json =>
      Array.isArray(o)
        ? o.map(reversed)
        : o && typeof o === "object"
          ? Object.fromEntries(
              Object.entries(o)
                .reverse()
                .map(([k, v]) => [k, reversed(v)]),
            )
          : o;
    const b = parseInfo(reversed(example()), "b");
    assert.equal(serializeInfo(a), serializeInfo(b));
    const again = parseInfo(JSON.parse(serializeInfo(a)), "again");
    assert.deepEqual(again, a);
    assert.equal(serializeInfo(again), serializeInfo(a));
    const keys = Object.keys(JSON.parse(serializeInfo(a)).scales[0]);
    assert.deepEqual(keys, [
      "key",
      "size",
      "voxel_offset",
      "resolution",
      "chunk_sizes",
      "encoding",
    ]);
  });

  it("writes sharding keys in a fixed order and unknown keys sorted", () => {
    const info = parseInfo(
      variant((j) => {
        j.zeta = 1;
        j.alpha = { b: 2, a: 1 };
      }, shardedExample),
      "x",
    ) as PrecomputedInfo;
    const out = JSON.parse(serializeInfo(info));
    assert.deepEqual(Object.keys(out), [
      "@type",
      "type",
      "data_type",
      "num_channels",
      "scales",
      "alpha",
      "zeta",
    ]);
    assert.deepEqual(Object.keys(out.alpha), ["a", "b"]);
    assert.deepEqual(Object.keys(out.scales[0].sharding), [
      "@type",
      "preshift_bits",
      "hash",
      "minishard_bits",
      "shard_bits",
      "minishard_index_encoding",
      "data_encoding",
    ]);
    // Integer-valued floats are written without ".0".
    assert.ok(serializeInfo(info).includes('"resolution": [8, 8, 8]'));
  });
});
