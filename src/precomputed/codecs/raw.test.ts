import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../../errors.js";
import { makeBlock } from "../../ops/array.js";
import type { ScaleInfo } from "../types.js";
import { rawCodec } from "./raw.js";
import { getCodec, knownEncodings, registerCodec } from "./registry.js";

const scale: ScaleInfo = {
  key: "1_1_1",
  size: [4, 3, 2],
  resolution: [1, 1, 1],
  chunk_sizes: [[4, 3, 2]],
  encoding: "raw",
};

describe("codec registry", () => {
  it("has raw built in", () => {
    assert.equal(getCodec("raw"), rawCodec);
    assert.ok(knownEncodings().includes("raw"));
    assert.equal(rawCodec.transferGzip, true);
    assert.equal(rawCodec.contentType, "application/octet-stream");
  });

  it("names the encoding and the known ones for an unknown encoding", () => {
    assert.throws(
      () => getCodec("zstd"),
      (e) =>
        isVoxportError(e, "UNSUPPORTED") &&
        /"zstd"/.test(e.message) &&
        /known: .*raw/.test(e.message),
    );
  });

  it("refuses to register an encoding twice unless replacing", () => {
    assert.throws(
      () => registerCodec(rawCodec),
      (e) => isVoxportError(e, "CONFLICT"),
    );
    registerCodec(rawCodec, { replace: true });
  });
});

describe("raw codec", () => {
  it("writes little-endian Fortran-order bytes and reads them back", async () => {
    const b = makeBlock("uint16", [2, 1, 1, 2]);
    (b.data as Uint16Array).set([0x0102, 0x0304, 0x0506, 0x0708]);
    const bytes = await rawCodec.encode(b, scale);
    assert.deepEqual([...bytes], [2, 1, 4, 3, 6, 5, 8, 7]);
    const back = await rawCodec.decode(bytes, [2, 1, 1, 2], "uint16", scale);
    assert.deepEqual(back, b);
  });

  it("decodes unaligned bytes (one copy) for every data type", async () => {
    for (const dt of [
      "uint8",
      "int8",
      "uint16",
      "int16",
      "uint32",
      "int32",
      "uint64",
      "float32",
    ] as const) {
      const b = makeBlock(dt, [3, 1, 1, 1]);
      b.data.set((dt === "uint64" ? [1n, 2n, 3n] : [1, 2, 3]) as never);
      const enc = await rawCodec.encode(b, scale);
      const padded = new Uint8Array(enc.length + 1);
      padded.set(enc, 1);
      const back = await rawCodec.decode(padded.subarray(1), [3, 1, 1, 1], dt, scale);
      assert.deepEqual(back.data, b.data, dt);
    }
  });

  it("reports expected versus actual byte counts", async () => {
    await assert.rejects(
      rawCodec.decode(new Uint8Array(47), [4, 3, 2, 1], "uint16", scale),
      (e) => isVoxportError(e, "CODEC") && /47 bytes/.test(e.message) && /48/.test(e.message),
    );
  });
});
