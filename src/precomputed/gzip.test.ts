import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { gzipAsync, gzipBytes } from "./gzip.js";

/** Half noise, half runs: something for both the entropy coder and LZ77. */
function sample(n: number, seed: number): Uint8Array {
  let a = seed;
  return new Uint8Array(n).map((_, i) => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return i % 4096 < 2048 ? a >>> 24 : (i >> 9) & 7;
  });
}

describe("gzipAsync", () => {
  it("gives gzipBytes' bytes at levels 1–9, sizes 0 to 1 MiB", async () => {
    for (const level of [1, 4, 6, 9]) {
      for (const n of [0, 1, 100, 65536, 262144, 1 << 20]) {
        const data = sample(n, n + level);
        const got = await gzipAsync(data, level);
        assert.deepEqual(got, gzipBytes(data, level), `level ${level}, ${n} bytes`);
        assert.deepEqual(new Uint8Array(gunzipSync(got)), data);
      }
    }
  });

  it("round-trips at level 0 and on data that does not compress", async () => {
    for (const n of [0, 70000, 1 << 20]) {
      const data = sample(n, 3).map((v, i) => (v * 31 + i * 7919) & 255);
      for (const level of [0, 6]) {
        assert.deepEqual(new Uint8Array(gunzipSync(await gzipAsync(data, level))), data);
      }
    }
  });

  it("returns a compact copy when the output is much smaller than its buffer", async () => {
    const out = await gzipAsync(new Uint8Array(1 << 20), 6);
    assert.ok(out.buffer.byteLength < 4 * out.byteLength + 8192, `${out.buffer.byteLength}`);
  });
});
