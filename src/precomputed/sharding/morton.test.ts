import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../../errors.js";
import {
  bitLength,
  chunkGridShape,
  compressedMortonBits,
  decodeCompressedMorton,
  encodeCompressedMorton,
  mortonBitOrder,
} from "./morton.js";

// precomputed-format.md §4.3: [grid, bits, [cell, code][]]
const VECTORS: Array<[number[], number[], Array<[number[], bigint]>]> = [
  [
    [16, 4, 2],
    [4, 2, 1],
    [
      [[0, 0, 0], 0n],
      [[1, 0, 0], 1n],
      [[0, 1, 0], 2n],
      [[0, 0, 1], 4n],
      [[2, 0, 1], 12n],
      [[2, 3, 0], 26n],
      [[9, 2, 1], 85n],
      [[1, 1, 1], 7n],
      [[15, 3, 1], 127n],
    ],
  ],
  [
    [2, 2, 2],
    [1, 1, 1],
    [0, 1].flatMap((z) =>
      [0, 1].flatMap((y) =>
        [0, 1].map((x): [number[], bigint] => [[x, y, z], BigInt(x + 2 * y + 4 * z)]),
      ),
    ),
  ],
  [
    [3, 5, 1],
    [2, 3, 0],
    (
      [
        [0, 0, 0],
        [1, 0, 1],
        [2, 0, 4],
        [0, 1, 2],
        [1, 1, 3],
        [2, 1, 6],
        [0, 2, 8],
        [1, 2, 9],
        [2, 2, 12],
        [0, 3, 10],
        [1, 3, 11],
        [2, 3, 14],
        [0, 4, 16],
        [1, 4, 17],
        [2, 4, 20],
      ] as const
    ).map(([x, y, c]): [number[], bigint] => [[x, y, 0], BigInt(c)]),
  ],
  [
    [10, 1, 7],
    [4, 0, 3],
    [
      [[1, 0, 0], 1n],
      [[0, 0, 1], 2n],
      [[1, 0, 1], 3n],
      [[9, 0, 6], 105n],
    ],
  ],
  [
    [1000, 1000, 10],
    [10, 10, 4],
    [
      [[999, 999, 9], 16763103n],
      [[123, 456, 7], 2840365n],
    ],
  ],
  [[1, 1, 1], [0, 0, 0], [[[0, 0, 0], 0n]]],
];

describe("compressed Morton code", () => {
  for (const [grid, bits, cases] of VECTORS) {
    it(`grid [${grid}]`, () => {
      assert.deepEqual(compressedMortonBits(grid), bits);
      for (const [cell, code] of cases) {
        assert.equal(encodeCompressedMorton(grid, cell), code, `encode [${cell}]`);
        assert.deepEqual(decodeCompressedMorton(grid, code), cell, `decode ${code}`);
      }
    });
  }

  it("bits from size and chunk size (TS metadata_test)", () => {
    assert.deepEqual(compressedMortonBits(chunkGridShape([79, 80, 144], [20, 20, 12])), [2, 2, 4]);
  });

  it("decodes NG zorder.spec.ts 21-bit case and round trips it", () => {
    const grid = [2 ** 21, 2 ** 21, 2 ** 21];
    const code = 0b111000100010001111000100010001111000100010001n;
    const cell = [0b100011000110001, 0b100101001010010, 0b101001010010100];
    assert.deepEqual(decodeCompressedMorton(grid, code), cell);
    assert.equal(encodeCompressedMorton(grid, cell), code);
  });

  it("uses all 64 bits", () => {
    const grid = [2 ** 32, 2 ** 32, 1];
    const cell = [2 ** 32 - 1, 2 ** 32 - 1, 0];
    assert.equal(encodeCompressedMorton(grid, cell), 2n ** 64n - 1n);
    assert.deepEqual(decodeCompressedMorton(grid, 2n ** 64n - 1n), cell);
    assert.equal(encodeCompressedMorton(grid, [2 ** 31, 0, 0]), 1n << 62n);
  });

  it("round trips every cell of an odd grid", () => {
    const grid = [5, 3, 9];
    const seen = new Set<bigint>();
    for (let z = 0; z < 9; z++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 5; x++) {
          const code = encodeCompressedMorton(grid, [x, y, z]);
          assert.ok(code < 2n ** 9n);
          seen.add(code);
          assert.deepEqual(decodeCompressedMorton(grid, code), [x, y, z]);
        }
    assert.equal(seen.size, 5 * 3 * 9);
  });

  it("bit order skips exhausted dimensions", () => {
    assert.deepEqual(mortonBitOrder([2, 3, 0]), [0, 1, 0, 1, 1]);
    assert.deepEqual(mortonBitOrder([0, 0, 0]), []);
  });

  it("bitLength", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 2 ** 32 - 1, 2 ** 32, 2 ** 40].map(bitLength),
      [0, 1, 2, 2, 3, 32, 33, 41],
    );
  });

  it("rejects cells outside the grid, grids over 64 bits and oversized codes", () => {
    const bad = (f: () => unknown) =>
      assert.throws(f, (e) => isVoxportError(e, "INVALID_ARGUMENT"));
    bad(() => encodeCompressedMorton([3, 5, 1], [3, 0, 0]));
    bad(() => encodeCompressedMorton([3, 5, 1], [0, -1, 0]));
    bad(() => encodeCompressedMorton([3, 5, 1], [0.5, 0, 0]));
    bad(() => encodeCompressedMorton([3, 5, 1], [0, 0]));
    bad(() => compressedMortonBits([2 ** 22, 2 ** 22, 2 ** 22]));
    bad(() => compressedMortonBits([0, 1, 1]));
    bad(() => decodeCompressedMorton([3, 5, 1], 32n));
  });
});
