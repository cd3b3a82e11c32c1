import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import {
  type Block,
  DATA_TYPES,
  type DataType,
  makeBlock,
  type Shape4,
  type Vec3,
} from "./array.js";
import { type DownsampleMethod, downsample, downsampledBounds } from "./downsample.js";

// ---------------------------------------------------------------------------------------------
// Naive reference: loop over output voxels in absolute coordinates, collect the input voxels of
// the footprint that lie in the block, reduce with BigInt (integers) or float64 (float32).

type Value = number | bigint;

/** Floor division for b > 0 (BigInt division truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

function reference(
  block: Block,
  origin: Vec3,
  factor: Vec3,
  method: DownsampleMethod,
): { block: Block; origin: Vec3 } {
  const [sx, sy, sz, nc] = block.shape;
  const lo: Vec3 = [0, 0, 0];
  const hi: Vec3 = [0, 0, 0];
  const shape = [sx, sy, sz];
  for (let d = 0; d < 3; d++) {
    lo[d] = Math.floor(origin[d] / factor[d]);
    hi[d] = shape[d] === 0 ? lo[d] : Math.ceil((origin[d] + shape[d]) / factor[d]);
  }
  const out = makeBlock(block.dtype, [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], nc]);
  const [ox, oy, oz] = out.shape;
  const get = (x: number, y: number, z: number, c: number): Value =>
    block.data[x + sx * (y + sy * (z + sz * c))];
  for (let c = 0; c < nc; c++) {
    for (let vz = lo[2]; vz < hi[2]; vz++) {
      for (let vy = lo[1]; vy < hi[1]; vy++) {
        for (let vx = lo[0]; vx < hi[0]; vx++) {
          const values: Value[] = [];
          for (let az = vz * factor[2]; az < (vz + 1) * factor[2]; az++) {
            for (let ay = vy * factor[1]; ay < (vy + 1) * factor[1]; ay++) {
              for (let ax = vx * factor[0]; ax < (vx + 1) * factor[0]; ax++) {
                const x = ax - origin[0];
                const y = ay - origin[1];
                const z = az - origin[2];
                if (x < 0 || y < 0 || z < 0 || x >= sx || y >= sy || z >= sz) continue;
                values.push(get(x, y, z, c));
              }
            }
          }
          assert.ok(values.length > 0, "every output voxel has at least one input voxel");
          let result: Value;
          if (method === "mode") {
            const counts = new Map<Value, number>();
            for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
            let best: Value | undefined;
            let bestN = 0;
            for (const [v, n] of counts) {
              if (n > bestN || (n === bestN && best !== undefined && v < best)) {
                best = v;
                bestN = n;
              }
            }
            result = best as Value;
          } else if (block.dtype === "float32") {
            let s = 0;
            for (const v of values) s += v as number;
            result = s / values.length;
          } else {
            let s = 0n;
            for (const v of values) s += BigInt(v);
            const n = BigInt(values.length);
            result = floorDiv(2n * s + n, 2n * n);
            if (block.dtype !== "uint64") result = Number(result);
          }
          const i = vx - lo[0] + ox * (vy - lo[1] + oy * (vz - lo[2] + oz * c));
          (out.data as { [k: number]: Value })[i] = result;
        }
      }
    }
  }
  return { block: out, origin: lo };
}

// Deterministic PRNG (mulberry32).
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RANGE: Record<DataType, [number, number]> = {
  uint8: [0, 255],
  int8: [-128, 127],
  uint16: [0, 65535],
  int16: [-32768, 32767],
  uint32: [0, 4294967295],
  int32: [-2147483648, 2147483647],
  uint64: [0, 0],
  float32: [-1000, 1000],
};

/**
 * Random block. `few` draws from a handful of values (forces ties and repeats, as in label
 * images); otherwise the full range of the type (extremes included).
 */
function randomBlock(dtype: DataType, shape: Shape4, seed: number, few: boolean): Block {
  const b = makeBlock(dtype, shape);
  const r = rng(seed);
  const [lo, hi] = RANGE[dtype];
  const palette = Array.from({ length: 3 }, () => r());
  for (let i = 0; i < b.data.length; i++) {
    const u = few ? palette[Math.floor(r() * palette.length)] : r();
    if (dtype === "uint64") {
      // High and low words both vary so that ordering by (hi, lo) is exercised.
      const hiWord = BigInt(Math.floor(u * 3) * 0x7fffffff);
      const loWord = BigInt(Math.floor(u * 4294967296));
      (b.data as BigUint64Array)[i] = (hiWord << 32n) | loWord;
    } else if (dtype === "float32") {
      b.data[i] = lo + u * (hi - lo);
    } else {
      const extreme = !few && r() < 0.05;
      b.data[i] = extreme ? (r() < 0.5 ? lo : hi) : Math.floor(lo + u * (hi - lo + 1));
    }
  }
  return b;
}

function assertBlocksEqual(actual: Block, expected: Block, what: string): void {
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  for (let i = 0; i < expected.data.length; i++) {
    if (actual.data[i] !== expected.data[i]) {
      assert.fail(`${what}: element ${i} is ${actual.data[i]}, expected ${expected.data[i]}`);
    }
  }
}

const SHAPES: Shape4[] = [
  [7, 5, 3, 1],
  [8, 8, 4, 1],
  [9, 4, 5, 2],
  [1, 1, 1, 1],
  [2, 3, 1, 3],
  [33, 17, 6, 1],
];
const ORIGINS: Vec3[] = [
  [0, 0, 0],
  [1, 3, 5],
  [-3, 2, 7],
  [5, 0, 1],
  [64, 65, -1],
];
const FACTORS: Vec3[] = [
  [2, 2, 1],
  [2, 2, 2],
  [1, 1, 1],
  [3, 2, 1],
  [1, 2, 2],
  [4, 4, 4],
  [2, 1, 3],
  [5, 1, 1],
];

describe("downsampledBounds", () => {
  it("uses floor(O/F) and ceil((O+S)/F) so odd offsets keep the last voxel", () => {
    // precomputed-format.md §5.3: offset 11, size 100 at factor 2 covers [10, 112) ⊇ [11, 111).
    assert.deepEqual(downsampledBounds([11, 0, 0], [100, 64, 1], [2, 2, 1]), {
      origin: [5, 0, 0],
      shape: [51, 32, 1],
    });
    assert.deepEqual(downsampledBounds([-3, 0, 0], [4, 1, 0], [2, 2, 2]), {
      origin: [-2, 0, 0],
      shape: [3, 1, 0],
    });
  });
});

describe("downsample vs naive reference", () => {
  for (const method of ["average", "mode"] as const) {
    for (const dtype of DATA_TYPES) {
      it(`${method} ${dtype}: random blocks, odd sizes, odd and negative origins, many factors`, () => {
        let seed = 1;
        for (const shape of SHAPES) {
          for (const origin of ORIGINS) {
            for (const factor of FACTORS) {
              for (const few of [false, true]) {
                const block = randomBlock(dtype, shape, seed++, few);
                const got = downsample(block, origin, factor, method);
                const want = reference(block, origin, factor, method);
                const what = `${method} ${dtype} shape ${shape} origin ${origin} factor ${factor} few=${few}`;
                assert.deepEqual(got.origin, want.origin, `${what}: origin`);
                // float32 average: same summation order as the reference, so exactly equal.
                assertBlocksEqual(got.block, want.block, what);
              }
            }
          }
        }
      });
    }
  }

  it("covers larger blocks through the specialised 2x2x1 / 2x2x2 loops", () => {
    for (const dtype of [
      "uint8",
      "uint16",
      "int16",
      "uint32",
      "int32",
      "float32",
      "uint64",
    ] as DataType[]) {
      for (const factor of [
        [2, 2, 1],
        [2, 2, 2],
      ] as Vec3[]) {
        for (const origin of [
          [0, 0, 0],
          [1, 1, 1],
        ] as Vec3[]) {
          for (const method of ["average", "mode"] as const) {
            const block = randomBlock(dtype, [65, 34, 9, 1], 99, method === "mode");
            assertBlocksEqual(
              downsample(block, origin, factor, method).block,
              reference(block, origin, factor, method).block,
              `${method} ${dtype} ${factor} ${origin}`,
            );
          }
        }
      }
    }
  });
});

describe("downsample semantics", () => {
  const one = (
    dtype: DataType,
    values: number[] | bigint[],
    shape: Shape4 = [values.length, 1, 1, 1],
  ) => {
    const b = makeBlock(dtype, shape);
    (b.data as unknown as { set(a: unknown): void }).set(values);
    return b;
  };

  it("average rounds half up (signed: toward +infinity)", () => {
    assert.deepEqual(
      [...downsample(one("uint8", [1, 2]), [0, 0, 0], [2, 1, 1], "average").block.data],
      [2],
    );
    assert.deepEqual(
      [...downsample(one("uint8", [1, 1, 1, 2]), [0, 0, 0], [4, 1, 1], "average").block.data],
      [1],
    );
    assert.deepEqual(
      [...downsample(one("int8", [-1, -2]), [0, 0, 0], [2, 1, 1], "average").block.data],
      [-1],
    );
    assert.deepEqual(
      [...downsample(one("int8", [-2, -3, -3]), [0, 0, 0], [3, 1, 1], "average").block.data],
      [-3],
    );
    assert.deepEqual(
      [
        ...downsample(one("uint32", [4294967295, 4294967294]), [0, 0, 0], [2, 1, 1], "average")
          .block.data,
      ],
      [4294967295],
    );
    assert.deepEqual(
      [...downsample(one("float32", [1, 2]), [0, 0, 0], [2, 1, 1], "average").block.data],
      [1.5],
    );
  });

  it("partial footprints use only the voxels present", () => {
    // origin 1, factor 2: output voxel 0 covers absolute [0, 2) → only input x=0 (absolute 1).
    const r = downsample(one("uint16", [10, 20, 30]), [1, 0, 0], [2, 1, 1], "average");
    assert.deepEqual(r.origin, [0, 0, 0]);
    assert.deepEqual([...r.block.data], [10, 25]);
  });

  it("mode breaks ties toward the smallest value", () => {
    const b = one("uint32", [5, 3, 3, 5], [2, 2, 1, 1]);
    assert.deepEqual([...downsample(b, [0, 0, 0], [2, 2, 1], "mode").block.data], [3]);
    const c = one("uint32", [9, 7, 8, 6], [2, 2, 1, 1]);
    assert.deepEqual([...downsample(c, [0, 0, 0], [2, 2, 1], "mode").block.data], [6]);
    const d = one("int16", [4, -4, 4, -4, 1, 2, 3, 0], [2, 2, 2, 1]);
    assert.deepEqual([...downsample(d, [0, 0, 0], [2, 2, 2], "mode").block.data], [-4]);
    const big = one("uint64", [1n << 40n, 3n, 3n, 1n << 40n, 7n], [5, 1, 1, 1]);
    assert.deepEqual([...downsample(big, [0, 0, 0], [5, 1, 1], "mode").block.data], [3n]);
    const hiLo = one("uint64", [(1n << 32n) | 1n, 2n], [2, 1, 1, 1]);
    assert.deepEqual([...downsample(hiLo, [0, 0, 0], [2, 1, 1], "mode").block.data], [2n]);
  });

  it("mode keeps the majority label and handles uint64 labels above 2^53", () => {
    const L = (1n << 63n) + 12345n;
    const b = one("uint64", [L, L, L, 1n], [2, 2, 1, 1]);
    assert.deepEqual([...downsample(b, [0, 0, 0], [2, 2, 1], "mode").block.data], [L]);
  });

  it("channels are independent", () => {
    const b = one("uint8", [0, 2, 0, 2, 100, 200, 100, 200], [2, 2, 1, 2]);
    const r = downsample(b, [0, 0, 0], [2, 2, 1], "average");
    assert.deepEqual(r.block.shape, [1, 1, 1, 2]);
    assert.deepEqual([...r.block.data], [1, 150]);
  });

  it("empty axes give empty output", () => {
    const r = downsample(makeBlock("uint8", [0, 4, 4, 1]), [3, 0, 0], [2, 2, 1], "average");
    assert.deepEqual(r.block.shape, [0, 2, 4, 1]);
    assert.equal(r.block.data.length, 0);
  });

  it("rejects bad factors and inconsistent blocks", () => {
    const b = makeBlock("uint8", [2, 2, 2, 1]);
    assert.throws(
      () => downsample(b, [0, 0, 0], [0, 2, 2], "average"),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    assert.throws(
      () => downsample(b, [0, 0, 0], [1.5, 2, 2], "mode"),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    assert.throws(
      () => downsample({ ...b, shape: [3, 2, 2, 1] }, [0, 0, 0], [2, 2, 2], "mode"),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });
});

// Opt-in benchmark: VOXPORT_PERF=1 node --import tsx --test src/ops/downsample.test.ts
describe("downsample speed", { skip: process.env.VOXPORT_PERF !== "1" }, () => {
  it("2048x2048x64 uint8, 2x2x1 average and mode", (t) => {
    const block = makeBlock("uint8", [2048, 2048, 64, 1]);
    const d = block.data as Uint8Array;
    for (let i = 0; i < d.length; i++) d[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
    for (const method of ["average", "mode"] as const) {
      let best = Number.POSITIVE_INFINITY;
      for (let rep = 0; rep < 3; rep++) {
        const t0 = performance.now();
        downsample(block, [0, 0, 0], [2, 2, 1], method);
        best = Math.min(best, performance.now() - t0);
      }
      t.diagnostic(
        `${method}: best of 3 = ${best.toFixed(0)} ms (${((d.length / best) * 1e-3).toFixed(0)} Mvoxel/s)`,
      );
    }
  });
});
