import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inflateSync } from "node:zlib";
import sharp from "sharp";
import { isVoxportError } from "../../errors.js";
import type { Block, Shape4 } from "../../ops/array.js";
import { decodePng, encodePng, readPngHeader } from "./png.js";

function random(dtype: "uint8" | "uint16", shape: Shape4, seed = 1): Block {
  const n = shape[0] * shape[1] * shape[2] * shape[3];
  let a = seed;
  const next = () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return a >>> 8;
  };
  const data =
    dtype === "uint8"
      ? new Uint8Array(n).map(() => next() & 255)
      : new Uint16Array(n).map(() => next() & 65535);
  return { dtype, shape, data };
}

/** Concatenated, inflated IDAT payload. */
function idat(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 8; i < bytes.length; ) {
    const len = view.getUint32(i);
    const type = String.fromCharCode(...bytes.subarray(i + 4, i + 8));
    if (type === "IDAT") parts.push(bytes.subarray(i + 8, i + 8 + len));
    i += 12 + len;
  }
  return new Uint8Array(inflateSync(Buffer.concat(parts)));
}

const codec = (re: RegExp) => (e: unknown) => isVoxportError(e, "CODEC") && re.test(e.message);

describe("png", () => {
  for (const dtype of ["uint8", "uint16"] as const) {
    for (const channels of [1, 2, 3, 4]) {
      it(`${dtype} with ${channels} channel(s) round trips exactly`, async () => {
        const shape: Shape4 = [13, 7, 5, channels];
        const block = random(dtype, shape, channels * 7 + (dtype === "uint8" ? 0 : 1));
        const bytes = await encodePng(block, 6);
        const header = readPngHeader(bytes);
        assert.equal(header.width, 13);
        assert.equal(header.height, 35);
        assert.equal(header.bitDepth, dtype === "uint8" ? 8 : 16);
        assert.equal(header.colorType, [0, 4, 2, 6][channels - 1]);
        const back = await decodePng(bytes, shape, dtype);
        assert.equal(back.dtype, dtype);
        assert.deepEqual(back.shape, shape);
        assert.deepEqual(back.data, block.data);
      });
    }
  }

  it("16-bit samples are big-endian in the file; pixels interleave channels", async () => {
    const data = new Uint16Array([0x0102, 0x0304, 0xa0b0, 0xc0d0]); // shape [2,1,1,2]
    const bytes = await encodePng({ dtype: "uint16", shape: [2, 1, 1, 2], data }, 0);
    const rows = idat(bytes);
    // One row: filter byte, then pixel 0 (c0, c1), pixel 1 (c0, c1), each sample big-endian.
    assert.equal(rows.length, 9);
    assert.equal(rows[0], 0, "filter type None");
    assert.deepEqual([...rows.subarray(1)], [0x01, 0x02, 0xa0, 0xb0, 0x03, 0x04, 0xc0, 0xd0]);
    const { data: raw } = await sharp(bytes)
      .toColourspace("grey16")
      .raw({ depth: "ushort" })
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual(
      [...new Uint16Array(raw.buffer, raw.byteOffset, 4)],
      [0x0102, 0xa0b0, 0x0304, 0xc0d0],
    );
  });

  it("level controls zlib effort", async () => {
    const block: Block = {
      dtype: "uint8",
      shape: [64, 64, 8, 1],
      data: new Uint8Array(64 * 64 * 8).map((_, i) => (i >> 6) & 7),
    };
    const fast = await encodePng(block, 0);
    const small = await encodePng(block, 9);
    assert.ok(small.length < fast.length / 4, `${small.length} vs ${fast.length}`);
  });

  it("palette PNGs decode as RGB", async () => {
    const rgb = random("uint8", [8, 4, 2, 3]);
    const rgbPixels = new Uint8Array(rgb.data.length);
    for (let i = 0; i < 64; i++)
      for (let c = 0; c < 3; c++) rgbPixels[3 * i + c] = (i % 4) * 60 + c;
    const palette = await sharp(rgbPixels, { raw: { width: 8, height: 8, channels: 3 } })
      .png({ palette: true })
      .toBuffer();
    assert.equal(readPngHeader(palette).colorType, 3);
    const back = await decodePng(palette, [8, 4, 2, 3], "uint8");
    assert.equal(back.data[0], 0);
    assert.equal(back.data[64], 1); // channel 1 of pixel 0
  });

  it("decode checks area, channels and bit depth against the chunk", async () => {
    const u8 = await encodePng(random("uint8", [8, 8, 2, 1]), 6);
    await assert.rejects(
      decodePng(u8, [8, 8, 2, 1], "uint16"),
      codec(
        /expected 8x16 \(128 pixels\), 1 channel\(s\), 16-bit .*image is 8x16 \(128 pixels\), 1 channel\(s\), 8-bit/,
      ),
    );
    await assert.rejects(decodePng(u8, [8, 8, 3, 1], "uint8"), codec(/192 pixels.*128 pixels/));
    await assert.rejects(
      decodePng(u8, [8, 8, 2, 2], "uint8"),
      codec(/2 channel\(s\).*1 channel\(s\)/),
    );
    const u16 = await encodePng(random("uint16", [8, 8, 2, 1]), 6);
    await assert.rejects(decodePng(u16, [8, 8, 2, 1], "uint8"), codec(/8-bit .*16-bit/));
    assert.equal((await decodePng(u8, [16, 8, 1, 1], "uint8")).data.length, 128);
  });

  it("rejects corrupt or foreign bytes and unsupported blocks", async () => {
    const bytes = await encodePng(random("uint8", [16, 16, 4, 1]), 6);
    await assert.rejects(
      decodePng(bytes.subarray(0, 100), [16, 16, 4, 1], "uint8"),
      codec(/png decode/),
    );
    await assert.rejects(decodePng(new Uint8Array(30), [1, 1, 1, 1], "uint8"), codec(/not a PNG/));
    await assert.rejects(decodePng(bytes, [16, 16, 4, 1], "uint32"), (e) =>
      isVoxportError(e, "UNSUPPORTED"),
    );
    await assert.rejects(
      encodePng({ dtype: "float32", shape: [1, 1, 1, 1], data: new Float32Array(1) }),
      (e) => isVoxportError(e, "UNSUPPORTED"),
    );
    await assert.rejects(encodePng(random("uint8", [1, 1, 1, 5])), (e) =>
      isVoxportError(e, "UNSUPPORTED"),
    );
    await assert.rejects(encodePng(random("uint8", [1, 1, 1, 1]), 10), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
    await assert.rejects(
      encodePng({ dtype: "uint16", shape: [2, 1, 1, 1], data: new Uint8Array(2) }),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });

  it("measures speed (64^3, 1 channel)", async (t) => {
    for (const dtype of ["uint8", "uint16"] as const) {
      const block: Block = {
        dtype,
        shape: [64, 64, 64, 1],
        data: (dtype === "uint8" ? new Uint8Array(64 ** 3) : new Uint16Array(64 ** 3)).map(
          (_, i) => ((i & 63) + (i >> 12)) * 3,
        ),
      };
      const mb = (64 ** 3 * (dtype === "uint8" ? 1 : 2)) / 2 ** 20;
      const bytes = await encodePng(block, 6);
      const reps = 10;
      let t0 = performance.now();
      for (let i = 0; i < reps; i++) await encodePng(block, 6);
      const enc = (mb * reps) / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      for (let i = 0; i < reps; i++) await decodePng(bytes, [64, 64, 64, 1], dtype);
      const dec = (mb * reps) / ((performance.now() - t0) / 1000);
      t.diagnostic(
        `png level 6 ${dtype} 64^3x1: encode ${enc.toFixed(0)} MB/s, decode ${dec.toFixed(0)} MB/s, ${bytes.length} bytes`,
      );
    }
  });
});
