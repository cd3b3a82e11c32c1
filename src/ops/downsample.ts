/**
 * Pyramid downsampling of one block (pure functions, no I/O).
 *
 * Geometry (Neuroglancer's corner-aligned pyramids, precomputed-format.md §5.1): with factor f,
 * output voxel v covers input voxels [v·f, (v+1)·f) in ABSOLUTE coordinates. A block whose
 * element (0,0,0) sits at absolute input voxel `origin` therefore maps to output voxels
 * [floor(origin/f), ceil((origin+shape)/f)) — the "lo = floor(O/F), hi = ceil((O+S)/F)" rule of
 * §5.3, which never drops an edge voxel for odd offsets. An axis of extent 0 stays 0.
 * Output voxels whose footprint is only partly inside the block (block edges, odd origins) use
 * only the input voxels present: callers that tile a level into blocks should align block
 * origins to multiples of the factor, so that no footprint is split between two blocks.
 * Channels are independent.
 *
 * "average" (images):
 * - Integer types: exact integer sum (in float64: exact below 2^53, i.e. for any uint32 block
 *   with fewer than 2^21 voxels per output voxel), divided by the number of voxels present and
 *   rounded half up: floor(sum/n + 1/2). For signed types this rounds halves toward +infinity
 *   (-2.5 → -2). The result always lies within the input range.
 * - float32: mean computed in float64, then rounded to float32. NaN propagates.
 * - uint64: exact (BigInt) but slow; averaging uint64 is unusual (labels want "mode").
 * "mode" (segmentation):
 * - Most frequent value among the voxels present; ties go to the SMALLEST value (unsigned order
 *   for uint64, numeric order otherwise). Works for every dtype; intended for integer labels
 *   (for float32, NaN equals nothing, so results involving NaN are unspecified).
 * - ≤ 16 values per output voxel (2×2×1, 2×2×2, ...): compare-based counting in preallocated
 *   scratch arrays, no allocation per voxel. More values: sort a copy and take the longest run.
 *
 * Speed: the input rows under one output row are copied into a scratch buffer (Int32Array for
 * 8/16-bit averages, Float64Array otherwise) with TypedArray.set, so the inner loops see one
 * array type whatever the block dtype and stay monomorphic; 2×2×1 and 2×2×2 (the usual
 * pyramid factors) have dedicated loops, everything else (other factors, block edges) goes
 * through generic loops over the per-output-voxel input ranges.
 */
import { VoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type TypedArray, type Vec3 } from "./array.js";

export type DownsampleMethod = "average" | "mode";

export interface DownsampleResult {
  block: Block;
  /** Absolute voxel coordinate, at the output level, of the output block's element (0,0,0). */
  origin: Vec3;
}

/** Output origin and shape for a block at `origin` with `shape` (see the module comment). */
export function downsampledBounds(
  origin: Vec3,
  shape: Vec3,
  factor: Vec3,
): { origin: Vec3; shape: Vec3 } {
  const o: Vec3 = [0, 0, 0];
  const s: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    o[d] = Math.floor(origin[d] / factor[d]);
    s[d] = shape[d] === 0 ? 0 : Math.ceil((origin[d] + shape[d]) / factor[d]) - o[d];
  }
  return { origin: o, shape: s };
}

/** Per output index j along one axis: local input range [start[j], end[j]). */
interface AxisMap {
  start: Int32Array;
  end: Int32Array;
}

function axisMap(
  origin: number,
  extent: number,
  factor: number,
  outOrigin: number,
  outExtent: number,
): AxisMap {
  const start = new Int32Array(outExtent);
  const end = new Int32Array(outExtent);
  for (let j = 0; j < outExtent; j++) {
    const a = (outOrigin + j) * factor - origin;
    start[j] = Math.max(0, a);
    end[j] = Math.min(extent, a + factor);
  }
  return { start, end };
}

export function downsample(
  block: Block,
  origin: Vec3,
  factor: Vec3,
  method: DownsampleMethod,
): DownsampleResult {
  const [sx, sy, sz, nc] = block.shape;
  for (let d = 0; d < 3; d++) {
    if (!Number.isSafeInteger(factor[d]) || factor[d] < 1) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `downsample: factor ${factor.join(",")} must be positive integers`,
      );
    }
    if (!Number.isSafeInteger(origin[d])) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `downsample: origin ${origin.join(",")} must be integers`,
      );
    }
  }
  if (block.data.length !== sx * sy * sz * nc) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `downsample: block of shape ${block.shape.join("x")} has ${block.data.length} elements`,
    );
  }
  if (method !== "average" && method !== "mode") {
    throw new VoxportError("INVALID_ARGUMENT", `downsample: unknown method ${String(method)}`);
  }
  const out = downsampledBounds(origin, [sx, sy, sz], factor);
  const [ox, oy, oz] = out.shape;
  const result = makeBlock(block.dtype, [ox, oy, oz, nc]);
  if (ox * oy * oz * nc === 0) return { block: result, origin: out.origin };
  const mx = axisMap(origin[0], sx, factor[0], out.origin[0], ox);
  const my = axisMap(origin[1], sy, factor[1], out.origin[1], oy);
  const mz = axisMap(origin[2], sz, factor[2], out.origin[2], oz);
  const fx = factor[0];
  // Interior output columns [j0, j1) have full footprints, starting at input x0 + (j - j0) * fx.
  let j0 = 0;
  while (j0 < ox && mx.end[j0] - mx.start[j0] !== fx) j0++;
  let j1 = ox;
  while (j1 > j0 && mx.end[j1 - 1] - mx.start[j1 - 1] !== fx) j1--;
  const g: Geometry = {
    sx,
    sy,
    sz,
    nc,
    ox,
    oy,
    oz,
    fx,
    maxRows: Math.min(factor[1], sy) * Math.min(factor[2], sz),
    mx,
    my,
    mz,
    j0,
    j1,
    x0: j0 < ox ? mx.start[j0] : 0,
  };
  if (block.dtype === "uint64") {
    const src = block.data as BigUint64Array;
    const dst = result.data as BigUint64Array;
    if (method === "average") averageBig(src, dst, g);
    else modeUint64(src, dst, g);
  } else {
    const src = block.data as NumberArray;
    const dst = result.data as NumberArray;
    if (method === "average") averageNumbers(src, dst, g, block.dtype);
    else modeNumbers(src, dst, g, block.dtype);
  }
  return { block: result, origin: out.origin };
}

interface Geometry {
  sx: number;
  sy: number;
  sz: number;
  nc: number;
  ox: number;
  oy: number;
  oz: number;
  fx: number;
  /** Most input rows (y, z pairs) under one output row. */
  maxRows: number;
  mx: AxisMap;
  my: AxisMap;
  mz: AxisMap;
  /** Output columns [j0, j1) have full x footprints; j0's starts at input column x0. */
  j0: number;
  j1: number;
  x0: number;
}

type NumberArray = Exclude<TypedArray, BigUint64Array>;
type RowBuffer = Int32Array | Float64Array;
type OutRow = Int32Array | Float32Array;

/**
 * Copy the input rows under output row (c, kz, ky) into `rows` (one after another, each sx
 * long), converting to the scratch type; returns how many rows that is. TypedArray.set does
 * the conversion natively, and the kernels below then only ever see one array type.
 */
function loadRows(
  src: NumberArray,
  g: Geometry,
  c: number,
  kz: number,
  ky: number,
  rows: RowBuffer,
): number {
  const { sx, sy, sz, my, mz } = g;
  let n = 0;
  for (let z = mz.start[kz]; z < mz.end[kz]; z++) {
    for (let y = my.start[ky]; y < my.end[ky]; y++) {
      const off = sx * (y + sy * (z + sz * c));
      rows.set(src.subarray(off, off + sx), n * sx);
      n++;
    }
  }
  return n;
}

/** floor(s/n + 1/2) for integer s, exact for |s| < 2^51. */
function roundHalfUp(s: number, n: number): number {
  const p = 2 * s + n;
  const d = 2 * n;
  let q = Math.floor(p / d);
  const r = p - q * d;
  if (r < 0) q--;
  else if (r >= d) q++;
  return q;
}

function sumRange(rows: RowBuffer, sx: number, nRows: number, a: number, b: number): number {
  let s = 0;
  for (let r = 0; r < nRows; r++) {
    for (let i = r * sx + a, e = r * sx + b; i < e; i++) s += rows[i];
  }
  return s;
}

// ------------------------------------------------------------------------------------------
// average

const SMALL_INT: ReadonlySet<DataType> = new Set(["uint8", "int8", "uint16", "int16"]);

function averageNumbers(src: NumberArray, dst: NumberArray, g: Geometry, dtype: DataType): void {
  const { sx, nc, ox, oy, oz, fx, mx, j0, j1, x0 } = g;
  const isFloat = dtype === "float32";
  // 8/16-bit sums fit int32 while fewer than 2^15 voxels are averaged: integer scratch rows.
  const small = SMALL_INT.has(dtype) && fx * g.maxRows <= 32768;
  const rows: RowBuffer = small ? new Int32Array(g.maxRows * sx) : new Float64Array(g.maxRows * sx);
  // Int32 output rows hold every integer result (uint32 wraps and unwraps in dst.set).
  const out: OutRow = isFloat ? new Float32Array(ox) : new Int32Array(ox);
  const finish = (s: number, n: number) => (isFloat ? s / n : roundHalfUp(s, n));
  for (let c = 0; c < nc; c++) {
    for (let kz = 0; kz < oz; kz++) {
      for (let ky = 0; ky < oy; ky++) {
        const nRows = loadRows(src, g, c, kz, ky, rows);
        if (fx === 2 && nRows === 2) {
          if (small) avg2x2Small(rows as Int32Array, sx, out as Int32Array, j0, j1, x0);
          else if (!isFloat) avg2x2Wide(rows as Float64Array, sx, out as Int32Array, j0, j1, x0);
          else mean2x2(rows as Float64Array, sx, out as Float32Array, j0, j1, x0);
        } else if (fx === 2 && nRows === 4) {
          if (small) avg2x4Small(rows as Int32Array, sx, out as Int32Array, j0, j1, x0);
          else if (!isFloat) avg2x4Wide(rows as Float64Array, sx, out as Int32Array, j0, j1, x0);
          else mean2x4(rows as Float64Array, sx, out as Float32Array, j0, j1, x0);
        } else {
          for (let j = j0; j < j1; j++) {
            out[j] = finish(sumRange(rows, sx, nRows, mx.start[j], mx.end[j]), fx * nRows);
          }
        }
        for (let j = 0; j < j0; j++) {
          out[j] = finish(
            sumRange(rows, sx, nRows, mx.start[j], mx.end[j]),
            (mx.end[j] - mx.start[j]) * nRows,
          );
        }
        for (let j = j1; j < ox; j++) {
          out[j] = finish(
            sumRange(rows, sx, nRows, mx.start[j], mx.end[j]),
            (mx.end[j] - mx.start[j]) * nRows,
          );
        }
        dst.set(out, ox * (ky + oy * (kz + oz * c)));
      }
    }
  }
}

// Hot kernels, one per scratch type so that each stays monomorphic. Counts are 4 and 8, powers
// of two, so (s + n/2) >> log2(n) and floor((s + n/2) / n) are exact round-half-up.

function avg2x2Small(
  rows: Int32Array,
  sx: number,
  out: Int32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  for (let j = j0, i = x0, k = sx + x0; j < j1; j++, i += 2, k += 2) {
    out[j] = (rows[i] + rows[i + 1] + rows[k] + rows[k + 1] + 2) >> 2;
  }
}

function avg2x4Small(
  rows: Int32Array,
  sx: number,
  out: Int32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  const s2 = 2 * sx;
  const s3 = 3 * sx;
  for (let j = j0, i = x0; j < j1; j++, i += 2) {
    const s =
      rows[i] +
      rows[i + 1] +
      rows[sx + i] +
      rows[sx + i + 1] +
      rows[s2 + i] +
      rows[s2 + i + 1] +
      rows[s3 + i] +
      rows[s3 + i + 1];
    out[j] = (s + 4) >> 3;
  }
}

function avg2x2Wide(
  rows: Float64Array,
  sx: number,
  out: Int32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  for (let j = j0, i = x0, k = sx + x0; j < j1; j++, i += 2, k += 2) {
    out[j] = Math.floor((rows[i] + rows[i + 1] + rows[k] + rows[k + 1] + 2) * 0.25);
  }
}

function avg2x4Wide(
  rows: Float64Array,
  sx: number,
  out: Int32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  const s2 = 2 * sx;
  const s3 = 3 * sx;
  for (let j = j0, i = x0; j < j1; j++, i += 2) {
    const s =
      rows[i] +
      rows[i + 1] +
      rows[sx + i] +
      rows[sx + i + 1] +
      rows[s2 + i] +
      rows[s2 + i + 1] +
      rows[s3 + i] +
      rows[s3 + i + 1];
    out[j] = Math.floor((s + 4) * 0.125);
  }
}

function mean2x2(
  rows: Float64Array,
  sx: number,
  out: Float32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  for (let j = j0, i = x0, k = sx + x0; j < j1; j++, i += 2, k += 2) {
    out[j] = (rows[i] + rows[i + 1] + rows[k] + rows[k + 1]) / 4;
  }
}

function mean2x4(
  rows: Float64Array,
  sx: number,
  out: Float32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  const s2 = 2 * sx;
  const s3 = 3 * sx;
  for (let j = j0, i = x0; j < j1; j++, i += 2) {
    const s =
      rows[i] +
      rows[i + 1] +
      rows[sx + i] +
      rows[sx + i + 1] +
      rows[s2 + i] +
      rows[s2 + i + 1] +
      rows[s3 + i] +
      rows[s3 + i + 1];
    out[j] = s / 8;
  }
}

function averageBig(src: BigUint64Array, dst: BigUint64Array, g: Geometry): void {
  const { sx, sy, sz, nc, ox, oy, oz, mx, my, mz } = g;
  for (let c = 0; c < nc; c++) {
    for (let kz = 0; kz < oz; kz++) {
      for (let ky = 0; ky < oy; ky++) {
        for (let kx = 0; kx < ox; kx++) {
          let s = 0n;
          let n = 0;
          for (let z = mz.start[kz]; z < mz.end[kz]; z++) {
            for (let y = my.start[ky]; y < my.end[ky]; y++) {
              const base = sx * (y + sy * (z + sz * c));
              for (let x = mx.start[kx]; x < mx.end[kx]; x++) {
                s += src[base + x];
                n++;
              }
            }
          }
          const bn = BigInt(n);
          dst[kx + ox * (ky + oy * (kz + oz * c))] = (2n * s + bn) / (2n * bn);
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// mode, number dtypes (all values exact in float64 scratch rows)

/** Up to this many values per output voxel: compare-based counting, no sorting. */
const SMALL_MODE = 16;

function modeNumbers(src: NumberArray, dst: NumberArray, g: Geometry, dtype: DataType): void {
  const { sx, nc, ox, oy, oz, fx, mx, j0, j1, x0 } = g;
  const rows = new Float64Array(g.maxRows * sx);
  const isFloat = dtype === "float32";
  const out: OutRow = isFloat ? new Float32Array(ox) : new Int32Array(ox);
  const vals = new Float64Array(Math.max(1, fx * g.maxRows));
  for (let c = 0; c < nc; c++) {
    for (let kz = 0; kz < oz; kz++) {
      for (let ky = 0; ky < oy; ky++) {
        const nRows = loadRows(src, g, c, kz, ky, rows);
        if (!isFloat && fx === 2 && nRows === 2)
          mode2x2Row(rows, sx, out as Int32Array, j0, j1, x0);
        else if (!isFloat && fx === 2 && nRows === 4)
          mode2x2x2Row(rows, sx, out as Int32Array, j0, j1, x0, vals);
        else
          for (let j = j0; j < j1; j++)
            out[j] = modeOf(rows, sx, nRows, mx.start[j], mx.end[j], vals);
        for (let j = 0; j < j0; j++) out[j] = modeOf(rows, sx, nRows, mx.start[j], mx.end[j], vals);
        for (let j = j1; j < ox; j++)
          out[j] = modeOf(rows, sx, nRows, mx.start[j], mx.end[j], vals);
        dst.set(out, ox * (ky + oy * (kz + oz * c)));
      }
    }
  }
}

/** Mode of the values in columns [a, b) of the first nRows rows. */
function modeOf(
  rows: Float64Array,
  sx: number,
  nRows: number,
  a: number,
  b: number,
  vals: Float64Array,
): number {
  let k = 0;
  for (let r = 0; r < nRows; r++) {
    for (let i = r * sx + a, e = r * sx + b; i < e; i++) vals[k++] = rows[i];
  }
  return k <= SMALL_MODE ? modeSmall(vals, k) : modeSorted(vals, k);
}

/** Mode of a, b, c, d; ties → smallest. A few equality tests decide almost every case. */
function mode4(a: number, b: number, c: number, d: number): number {
  const ab = a === b;
  const cd = c === d;
  if (ab) return cd && c < a ? c : a; // a,a,c,c (tie → smaller), a,a,a,a, or a,a + two others
  if (cd) return c; // c,c + two different others
  // a ≠ b and c ≠ d: any value occurs at most twice.
  if (a === c) return b === d && b < a ? b : a;
  if (a === d) return b === c && b < a ? b : a;
  if (b === c || b === d) return b;
  return Math.min(a, b, c, d); // all four distinct
}

function mode2x2Row(
  rows: Float64Array,
  sx: number,
  out: Int32Array,
  j0: number,
  j1: number,
  x0: number,
): void {
  for (let j = j0, i = x0, k = sx + x0; j < j1; j++, i += 2, k += 2) {
    out[j] = mode4(rows[i], rows[i + 1], rows[k], rows[k + 1]);
  }
}

function mode2x2x2Row(
  rows: Float64Array,
  sx: number,
  out: Int32Array,
  j0: number,
  j1: number,
  x0: number,
  vals: Float64Array,
): void {
  const s2 = 2 * sx;
  const s3 = 3 * sx;
  for (let j = j0, i = x0; j < j1; j++, i += 2) {
    const v = rows[i];
    if (
      rows[i + 1] === v &&
      rows[sx + i] === v &&
      rows[sx + i + 1] === v &&
      rows[s2 + i] === v &&
      rows[s2 + i + 1] === v &&
      rows[s3 + i] === v &&
      rows[s3 + i + 1] === v
    ) {
      out[j] = v; // uniform footprint: the common case inside segments
      continue;
    }
    vals[0] = v;
    vals[1] = rows[i + 1];
    vals[2] = rows[sx + i];
    vals[3] = rows[sx + i + 1];
    vals[4] = rows[s2 + i];
    vals[5] = rows[s2 + i + 1];
    vals[6] = rows[s3 + i];
    vals[7] = rows[s3 + i + 1];
    out[j] = modeSortSmall(vals, 8);
  }
}

/** Mode of v[0..n), ties → smallest: counts each distinct value, O(n²), no allocation. */
function modeSmall(v: Float64Array, n: number): number {
  let best = v[0];
  let bestN = 0;
  for (let i = 0; i < n; i++) {
    const x = v[i];
    let seen = false;
    for (let k = 0; k < i; k++) {
      if (v[k] === x) {
        seen = true;
        break;
      }
    }
    if (seen) continue;
    let cnt = 1;
    for (let k = i + 1; k < n; k++) if (v[k] === x) cnt++;
    if (cnt > bestN || (cnt === bestN && x < best)) {
      best = x;
      bestN = cnt;
    }
  }
  return best;
}

/** Mode of v[0..n) by in-place insertion sort then the longest run (first = smallest on ties). */
function modeSortSmall(v: Float64Array, n: number): number {
  for (let i = 1; i < n; i++) {
    const x = v[i];
    let k = i - 1;
    while (k >= 0 && v[k] > x) {
      v[k + 1] = v[k];
      k--;
    }
    v[k + 1] = x;
  }
  return longestRun(v, n);
}

function longestRun(s: Float64Array, n: number): number {
  let best = s[0];
  let bestN = 0;
  for (let i = 0; i < n; ) {
    let k = i + 1;
    while (k < n && s[k] === s[i]) k++;
    if (k - i > bestN) {
      bestN = k - i;
      best = s[i];
    }
    i = k;
  }
  return best;
}

/** Mode of v[0..n) for larger n: sort a copy (one allocation per output voxel). */
function modeSorted(v: Float64Array, n: number): number {
  return longestRun(v.slice(0, n).sort(), n);
}

// ------------------------------------------------------------------------------------------
// mode, uint64: work on the (lo, hi) uint32 halves of the little-endian data, no BigInt per voxel.

function modeUint64(src: BigUint64Array, dst: BigUint64Array, g: Geometry): void {
  const { sx, sy, sz, nc, ox, oy, oz, mx, my, mz } = g;
  const s32 = new Uint32Array(src.buffer, src.byteOffset, src.length * 2);
  const d32 = new Uint32Array(dst.buffer, dst.byteOffset, dst.length * 2);
  const maxValues = Math.max(1, g.fx * g.maxRows);
  const lo = new Uint32Array(maxValues);
  const hi = new Uint32Array(maxValues);
  for (let c = 0; c < nc; c++) {
    for (let kz = 0; kz < oz; kz++) {
      for (let ky = 0; ky < oy; ky++) {
        for (let kx = 0; kx < ox; kx++) {
          let n = 0;
          for (let z = mz.start[kz]; z < mz.end[kz]; z++) {
            for (let y = my.start[ky]; y < my.end[ky]; y++) {
              const base = sx * (y + sy * (z + sz * c));
              for (let x = mx.start[kx]; x < mx.end[kx]; x++) {
                const i = 2 * (base + x);
                lo[n] = s32[i];
                hi[n] = s32[i + 1];
                n++;
              }
            }
          }
          const best = n <= SMALL_MODE ? modeSmall64(lo, hi, n) : modeSorted64(lo, hi, n);
          const o = 2 * (kx + ox * (ky + oy * (kz + oz * c)));
          d32[o] = lo[best];
          d32[o + 1] = hi[best];
        }
      }
    }
  }
}

/** Index of the mode among the pairs [0, n), ties → smallest (hi, lo). */
function modeSmall64(lo: Uint32Array, hi: Uint32Array, n: number): number {
  let best = 0;
  let bestN = 0;
  for (let i = 0; i < n; i++) {
    const l = lo[i];
    const h = hi[i];
    let seen = false;
    for (let k = 0; k < i; k++) {
      if (lo[k] === l && hi[k] === h) {
        seen = true;
        break;
      }
    }
    if (seen) continue;
    let cnt = 1;
    for (let k = i + 1; k < n; k++) if (lo[k] === l && hi[k] === h) cnt++;
    if (cnt > bestN || (cnt === bestN && (h < hi[best] || (h === hi[best] && l < lo[best])))) {
      best = i;
      bestN = cnt;
    }
  }
  return best;
}

function modeSorted64(lo: Uint32Array, hi: Uint32Array, n: number): number {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => hi[a] - hi[b] || lo[a] - lo[b]);
  let best = idx[0];
  let bestN = 0;
  for (let i = 0; i < n; ) {
    let k = i + 1;
    while (k < n && lo[idx[k]] === lo[idx[i]] && hi[idx[k]] === hi[idx[i]]) k++;
    if (k - i > bestN) {
      bestN = k - i;
      best = idx[i];
    }
    i = k;
  }
  return best;
}
