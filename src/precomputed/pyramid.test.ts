import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { parseInfo } from "./info.js";
import {
  buildScales,
  chooseFactor,
  downsampleExtent,
  formatResolution,
  levelFactor,
  scaleKey,
} from "./pyramid.js";

describe("resolution formatting", () => {
  it("uses the shortest form without a trailing .0", () => {
    assert.equal(formatResolution(4), "4");
    assert.equal(formatResolution(4.0), "4");
    assert.equal(formatResolution(4.5), "4.5");
    assert.equal(formatResolution(0.25), "0.25");
    assert.equal(scaleKey([8, 8, 40]), "8_8_40");
    assert.equal(scaleKey([4.5, 4.5, 40]), "4.5_4.5_40");
  });
});

describe("chooseFactor", () => {
  it("moves toward isotropy", () => {
    assert.deepEqual(chooseFactor([8, 8, 8]), [2, 2, 2]);
    assert.deepEqual(chooseFactor([4, 4, 40]), [2, 2, 1]);
    assert.deepEqual(chooseFactor([16, 16, 40]), [2, 2, 1]);
    assert.deepEqual(chooseFactor([32, 32, 40]), [2, 2, 2]);
    assert.deepEqual(chooseFactor([40, 8, 8]), [1, 2, 2]);
    assert.deepEqual(chooseFactor([64, 64, 40]), [1, 1, 2]);
  });

  it("does not downsample axes already 1 voxel thick", () => {
    assert.deepEqual(chooseFactor([8, 8, 8], [100, 100, 1]), [2, 2, 1]);
    // z is the finest axis but cannot shrink; x and y then set the target.
    assert.deepEqual(chooseFactor([8, 8, 2], [100, 100, 1]), [2, 2, 1]);
    assert.deepEqual(chooseFactor([8, 8, 8], [1, 1, 1]), [1, 1, 1]);
  });
});

describe("downsampleExtent", () => {
  it("keeps every base voxel covered, also for odd and negative offsets", () => {
    // §5.3 pitfall: offset 11, size 100 covers [11,111); level 1 must cover [10,112).
    assert.deepEqual(downsampleExtent([11, 0, 0], [100, 1, 1], [2, 1, 1]), {
      voxelOffset: [5, 0, 0],
      size: [51, 1, 1],
    });
    // Equal to CV's floor(O/F), ceil(S/F) when O is a multiple of F.
    assert.deepEqual(downsampleExtent([10, 20, 3], [100, 70, 5], [2, 2, 1]), {
      voxelOffset: [5, 10, 3],
      size: [50, 35, 5],
    });
    // [-65, -1) at factor 4 → [-17, 0): voxel -17 covers base [-68, -64).
    assert.deepEqual(downsampleExtent([-65, 0, 0], [64, 1, 1], [4, 1, 1]), {
      voxelOffset: [-17, 0, 0],
      size: [17, 1, 1],
    });
  });
});

describe("buildScales", () => {
  const base = {
    size: [100, 70, 5] as Vec3,
    voxelOffset: [10, 20, 3] as Vec3,
    resolution: [8, 8, 40] as Vec3,
    chunkSize: [64, 64, 64] as Vec3,
    encoding: "raw" as const,
  };

  it("reproduces the §1.4 example pyramid", () => {
    const scales = buildScales(base);
    assert.deepEqual(scales, [
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
    ]);
    parseInfo({ type: "image", data_type: "uint8", num_channels: 1, scales }, "built");
  });

  it("auto factors for 4,4,40: [2,2,1] until xy catches up with z, then [2,2,2]", () => {
    const scales = buildScales({
      size: [4096, 4096, 512],
      resolution: [4, 4, 40],
      chunkSize: [64, 64, 64],
      encoding: "raw",
    });
    assert.deepEqual(
      scales.map((s) => s.key),
      ["4_4_40", "8_8_40", "16_16_40", "32_32_40", "64_64_80", "128_128_160", "256_256_320"],
    );
    assert.deepEqual(
      scales.slice(1).map((_, i) => levelFactor(scales, i + 1)),
      [
        [2, 2, 1],
        [2, 2, 1],
        [2, 2, 1],
        [2, 2, 2],
        [2, 2, 2],
        [2, 2, 2],
      ],
    );
    // Stops once the last level fits in one chunk along x, y and z.
    assert.deepEqual(scales.at(-1)?.size, [64, 64, 64]);
  });

  it("stops when the level fits in one chunk in every downsampled axis", () => {
    const scales = buildScales(
      { ...base, size: [1000, 1000, 1], voxelOffset: [0, 0, 0] },
      { factors: [2, 2, 2] },
    );
    assert.deepEqual(
      scales.map((s) => s.size),
      [
        [1000, 1000, 1],
        [500, 500, 1],
        [250, 250, 1],
        [125, 125, 1],
        [63, 63, 1],
      ],
    );
    // z was 1 voxel thick: never downsampled, so its resolution stays 40.
    assert.ok(scales.every((s) => s.resolution[2] === 40));
  });

  it("honours maxScales and explicit per-level factors", () => {
    assert.equal(buildScales({ ...base, size: [4096, 4096, 4096] }, { maxScales: 3 }).length, 3);
    const explicit = buildScales(base, {
      factors: [
        [2, 2, 1],
        [1, 1, 2],
        [3, 3, 1],
      ],
    });
    assert.deepEqual(
      explicit.map((s) => s.key),
      ["8_8_40", "16_16_40", "16_16_80", "48_48_80"],
    );
    assert.deepEqual(explicit[3].voxel_offset, [1, 3, 1]); // floor([10,20,3] / [6,6,2])
    assert.deepEqual(explicit[3].size, [18, 12, 3]); // ceil([110,90,8]/[6,6,2]) - offset
    assert.equal(buildScales(base, { factors: [] }).length, 1);
    assert.throws(
      () => buildScales(base, { factors: [[2, 0, 1]] }),
      (e) => isVoxportError(e, "INVALID_ARGUMENT") && e.message.includes("factors[0]"),
    );
  });

  it("keeps keys short for fractional resolutions and copies encoding fields", () => {
    const scales = buildScales(
      {
        size: [300, 300, 300],
        resolution: [4.1, 4.1, 4.1],
        chunkSize: [64, 64, 64],
        encoding: "compressed_segmentation",
      },
      { factors: [[3, 3, 3]] },
    );
    assert.equal(scales[1].key, "12.3_12.3_12.3");
    assert.deepEqual(scales[1].compressed_segmentation_block_size, [8, 8, 8]);
    const jpeg = buildScales({ ...base, encoding: "jpeg", jpegQuality: 90 });
    assert.ok(jpeg.every((s) => s.jpeg_quality === 90 && !("png_level" in s)));
  });
});

describe("levelFactor", () => {
  it("rejects non-integer ratios and bad indexes", () => {
    const scales = buildScales({
      size: [100, 100, 100],
      resolution: [4, 4, 4],
      chunkSize: [64, 64, 64],
      encoding: "raw",
    });
    assert.deepEqual(levelFactor(scales, 1), [2, 2, 2]);
    assert.throws(
      () => levelFactor(scales, 0),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    const odd = [scales[0], { ...scales[1], resolution: [6, 8, 8] as Vec3 }];
    assert.throws(
      () => levelFactor(odd, 1),
      (e) => isVoxportError(e, "INVALID_INFO") && e.message.includes("scales[1].resolution[0]"),
    );
  });
});
