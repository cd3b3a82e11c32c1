import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import { isVoxportError } from "../../errors.js";
import { type Block, makeBlock, type Shape4 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import { copyBox } from "../../ops/copy.js";
import { decodeJpeg, encodeJpeg, encodeJpegRegion, readJpegHeader } from "./jpeg.js";

/** Smooth uint8 test block: each channel a different gentle gradient (JPEG-friendly). */
function smooth(shape: Shape4): Block {
  const [sx, sy, sz, nc] = shape;
  const data = new Uint8Array(sx * sy * sz * nc);
  let i = 0;
  for (let c = 0; c < nc; c++)
    for (let z = 0; z < sz; z++)
      for (let y = 0; y < sy; y++)
        for (let x = 0; x < sx; x++) data[i++] = (40 + 60 * c + 2 * x + y + 3 * z) & 255;
  return { dtype: "uint8", shape, data };
}

function meanAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Independent SOF scan: component count byte of the first SOF0/SOF1/SOF2 marker. */
function sofComponents(bytes: Uint8Array): number {
  for (let i = 2; i + 9 < bytes.length; ) {
    const marker = bytes[i + 1];
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) return bytes[i + 9];
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return -1;
}

const codec = (re: RegExp) => (e: unknown) => isVoxportError(e, "CODEC") && re.test(e.message);

describe("jpeg", () => {
  it("greyscale chunks encoded through regrouped blocks are byte-identical to direct encodes", async () => {
    const shapes: Shape4[] = [
      [64, 64, 64, 1], // 64×4096 → 512×512
      [64, 64, 7, 1], // 7 bands of 8 rows per z: odd band counts
      [40, 24, 16, 1],
      [8, 8, 64, 1],
      [64, 64, 1, 1], // square already: direct
      [30, 64, 64, 1], // width not a multiple of 8: direct
      [64, 5, 3, 1], // height not a multiple of 8: direct
    ];
    for (const shape of shapes) {
      const block = smooth(shape);
      const data = block.data as Uint8Array;
      for (let i = 0; i < data.length; i++) data[i] = (data[i] + ((i * 2654435761) >>> 27)) & 255;
      for (const [quality, optimiseCoding] of [
        [85, false],
        [40, true],
      ] as const) {
        const direct = await sharp(data, {
          raw: { width: shape[0], height: shape[1] * shape[2], channels: 1 },
        })
          .toColourspace("b-w")
          .jpeg({ quality, optimiseCoding })
          .toBuffer();
        const ours = await encodeJpeg(block, quality, { optimiseCoding });
        assert.deepEqual(Buffer.from(ours), direct, `[${shape}] q${quality} ${optimiseCoding}`);
      }
    }
  });

  it("encodeJpegRegion: the bytes of cutting the chunk out and encoding it", async () => {
    for (const channels of [1, 3]) {
      const box: Box = { min: [10, 20, 30], max: [10 + 100, 20 + 72, 30 + 40] };
      const block = smooth([100, 72, 40, channels]);
      const data = block.data as Uint8Array;
      for (let i = 0; i < data.length; i++) data[i] = (data[i] + ((i * 2654435761) >>> 28)) & 255;
      const chunks: Box[] = [
        { min: [10, 20, 30], max: [74, 84, 62] }, // 64×64×32: regrouped from the block in place
        { min: [74, 84, 62], max: [110, 92, 70] }, // clipped edge (36 wide): cut, direct
        box, // the whole block
      ];
      for (const cb of chunks) {
        const shape = [0, 1, 2].map((d) => cb.max[d] - cb.min[d]);
        const cut = makeBlock("uint8", [...shape, channels] as Shape4);
        copyBox(block, box, cut, cb);
        assert.deepEqual(
          await encodeJpegRegion(block, box, cb, 70),
          await encodeJpeg(cut, 70),
          `${channels} channel(s), chunk ${JSON.stringify(cb)}`,
        );
      }
    }
  });

  it("optimiseCoding: default off (standard Huffman tables); on is smaller and decodes the same", async () => {
    const block = smooth([64, 16, 8, 1]);
    const data = block.data as Uint8Array;
    for (let i = 0; i < data.length; i++) data[i] = (data[i] + ((i * 2654435761) >>> 28)) & 255;
    const plain = await encodeJpeg(block, 85);
    const optimised = await encodeJpeg(block, 85, { optimiseCoding: true });
    assert.deepEqual(await encodeJpeg(block, 85, { optimiseCoding: false }), plain);
    assert.ok(
      optimised.byteLength < plain.byteLength,
      `${optimised.byteLength} vs ${plain.byteLength}`,
    );
    const a = await decodeJpeg(plain, block.shape);
    const b = await decodeJpeg(optimised, block.shape);
    assert.deepEqual(a.data, b.data); // Huffman coding is lossless: same coefficients
  });

  it("1 channel is a 1-component greyscale JPEG of width sx, height sy*sz", async () => {
    const block = smooth([32, 16, 4, 1]);
    const bytes = await encodeJpeg(block, 90);
    assert.equal(sofComponents(bytes), 1);
    assert.deepEqual(readJpegHeader(bytes), { width: 32, height: 64, components: 1, precision: 8 });
    const meta = await sharp(bytes).metadata();
    assert.equal(meta.channels, 1);
    const back = await decodeJpeg(bytes, [32, 16, 4, 1]);
    assert.equal(back.dtype, "uint8");
    assert.deepEqual(back.shape, [32, 16, 4, 1]);
    assert.ok(meanAbsError(back.data as Uint8Array, block.data as Uint8Array) < 1.5);
  });

  it("3 channels: RGB JPEG, interleaved per pixel, planar after decoding", async () => {
    const block = smooth([16, 8, 3, 3]);
    const bytes = await encodeJpeg(block, 95, { chromaSubsampling: "4:4:4" });
    assert.equal(sofComponents(bytes), 3);
    // Pixel (x, y + sy*z) of the image holds voxel (x, y, z), channel c as component c.
    const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    const voxel = (x: number, y: number, z: number, c: number) =>
      block.data[x + 16 * (y + 8 * (z + 3 * c))] as number;
    const pixel = (x: number, row: number, c: number) => data[3 * (x + 16 * row) + c];
    for (const [x, y, z] of [
      [0, 0, 0],
      [15, 7, 2],
      [5, 3, 1],
    ])
      for (let c = 0; c < 3; c++)
        assert.ok(Math.abs(pixel(x, y + 8 * z, c) - voxel(x, y, z, c)) <= 3);
    const back = await decodeJpeg(bytes, [16, 8, 3, 3]);
    assert.ok(meanAbsError(back.data as Uint8Array, block.data as Uint8Array) < 1.5);
  });

  it("edge chunks and other factorisations of the same area decode", async () => {
    const block = smooth([7, 5, 3, 1]);
    const bytes = await encodeJpeg(block, 85);
    assert.deepEqual(readJpegHeader(bytes), { width: 7, height: 15, components: 1, precision: 8 });
    assert.equal((await decodeJpeg(bytes, [7, 5, 3, 1])).data.length, 105);
    assert.equal((await decodeJpeg(bytes, [15, 7, 1, 1])).data.length, 105);
  });

  it("decode checks area and channels against the chunk shape", async () => {
    const grey = await encodeJpeg(smooth([8, 8, 2, 1]), 85);
    await assert.rejects(
      decodeJpeg(grey, [8, 8, 3, 1]),
      codec(
        /expected 8x24 \(192 pixels\), 1 channel\(s\), 8-bit .*image is 8x16 \(128 pixels\), 1 channel\(s\), 8-bit/,
      ),
    );
    await assert.rejects(
      decodeJpeg(grey, [8, 8, 2, 3]),
      codec(/3 channel\(s\).*image is 8x16 .* 1 channel\(s\)/),
    );
    const rgb = await encodeJpeg(smooth([8, 8, 2, 3]), 85);
    await assert.rejects(decodeJpeg(rgb, [8, 8, 2, 1]), codec(/1 channel\(s\).*3 channel\(s\)/));
  });

  it("rejects corrupt streams", async () => {
    const bytes = await encodeJpeg(smooth([16, 16, 2, 1]), 85);
    await assert.rejects(
      decodeJpeg(bytes.subarray(0, bytes.length - 40), [16, 16, 2, 1]),
      codec(/jpeg decode/),
    );
    await assert.rejects(
      decodeJpeg(new Uint8Array([1, 2, 3, 4]), [1, 1, 1, 1]),
      codec(/not a JPEG/),
    );
    await assert.rejects(
      decodeJpeg(bytes.subarray(0, 20), [16, 16, 2, 1]),
      codec(/no frame header/),
    );
  });

  it("rejects what JPEG cannot hold", async () => {
    const unsupported = (e: unknown) => isVoxportError(e, "UNSUPPORTED");
    await assert.rejects(
      encodeJpeg({ dtype: "uint16", shape: [1, 1, 1, 1], data: new Uint16Array(1) }),
      unsupported,
    );
    await assert.rejects(encodeJpeg(smooth([2, 2, 2, 2])), unsupported);
    await assert.rejects(encodeJpeg(smooth([2, 256, 257, 1])), unsupported);
    await assert.rejects(encodeJpeg(smooth([2, 2, 2, 1]), 0), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
    await assert.rejects(
      encodeJpeg({ dtype: "uint8", shape: [2, 2, 2, 1], data: new Uint8Array(7) }),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });

  it("measures speed (64^3 uint8, 1 channel)", async (t) => {
    const block = smooth([64, 64, 64, 1]);
    const bytes = await encodeJpeg(block, 85);
    const mb = 64 ** 3 / 2 ** 20;
    const reps = 20;
    let t0 = performance.now();
    for (let i = 0; i < reps; i++) await encodeJpeg(block, 85);
    const enc = (mb * reps) / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let i = 0; i < reps; i++) await decodeJpeg(bytes, [64, 64, 64, 1]);
    const dec = (mb * reps) / ((performance.now() - t0) / 1000);
    t.diagnostic(
      `jpeg q85 64^3x1: encode ${enc.toFixed(0)} MB/s, decode ${dec.toFixed(0)} MB/s, ${bytes.length} bytes`,
    );
  });
});
