import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { murmurHash3X86_128Low64, murmurHash3X86_128Words } from "./murmur3.js";

// precomputed-format.md §4.2
const LOW64: Array<[bigint, bigint]> = [
  [0n, 0x4772b084e028ae41n],
  [1n, 0xe8bd67d616d4ce9an],
  [2n, 0xd62f9cd21b013f5an],
  [3n, 0x6b596e4f0e43e4d1n],
  [42n, 0xc20b94f95119f47an],
  [1000n, 0xfc1b462deff0cd6fn],
  [123456789n, 0x126576fc191a1827n],
  [2n ** 32n, 0xbbb12d133b78fd64n],
  [2n ** 63n, 0x998a35e4316acfa8n],
  [2n ** 64n - 1n, 0x574f66bd212b5d1an],
  [0x0123456789abcdefn, 0x708036264c109d93n],
];

// TS murmurhash3_test.cc: (input, seed) -> (h1, h2)
const SEEDED: Array<[bigint, number, number, number]> = [
  [0n, 0, 0xe028ae41, 0x4772b084],
  [0n, 1, 0x5ad58a7e, 0x54337108],
  [0n, 2, 0x64010da2, 0x62e8bc17],
  [1n, 0, 0x16d4ce9a, 0xe8bd67d6],
  [1n, 1, 0x4b7ab8c6, 0xeb555955],
  [1n, 2, 0xeb2301be, 0x48e12494],
  [42n, 0, 0x5119f47a, 0xc20b94f9],
  [42n, 1, 0xd6b51bca, 0xa25ad86b],
  [42n, 2, 0x2d83d9c7, 0x082115eb],
];

describe("murmurHash3X86_128Low64", () => {
  for (const [key, want] of LOW64) {
    it(`key ${key}`, () => {
      assert.equal(murmurHash3X86_128Low64(key), want);
    });
  }

  for (const [key, seed, h1, h2] of SEEDED) {
    it(`key ${key} seed ${seed} -> (h1, h2)`, () => {
      const got = murmurHash3X86_128Low64(key, seed);
      assert.equal(got & 0xffffffffn, BigInt(h1));
      assert.equal(got >> 32n, BigInt(h2));
      assert.deepEqual(
        murmurHash3X86_128Words(Number(key & 0xffffffffn), Number(key >> 32n), seed),
        [h1, h2],
      );
    });
  }

  it("rejects keys that are not uint64", () => {
    assert.throws(() => murmurHash3X86_128Low64(-1n), RangeError);
    assert.throws(() => murmurHash3X86_128Low64(2n ** 64n), RangeError);
  });
});
