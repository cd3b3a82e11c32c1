/**
 * compressed_segmentation encoder (precomputed-format.md §3.3; NG `encode_common.ts`, TS
 * `neuroglancer_compressed_segmentation.cc`), byte-compatible with the reference encoders: headers
 * first, then per block (x fastest) its packed indices followed by its lookup table, unless an
 * identical table was already written in this channel.
 *
 * Speed: values are handled as 32-bit words (uint64 as lo/hi pairs, never BigInt). Per block, one
 * pass assigns each voxel a local id through a compare-with-previous fast path and an
 * open-addressing hash table; the distinct values are then sorted natively (Uint32Array /
 * BigUint64Array sort) and ranked. Scratch buffers are module-level and reused; the encoder is
 * synchronous, so calls never interleave.
 */
import { VoxportError } from "../../errors.js";
import type { Block, Vec3 } from "../../ops/array.js";
import {
  blockGrid,
  checkShape,
  MAX_OFFSET,
  wordsPerValue,
} from "./compressed-segmentation-common.js";

// ---- scratch ----
let out = new Uint32Array(1 << 16);
let len = 0;
let localIdx = new Uint32Array(0); // local id per in-block position
let uniq = new Uint32Array(0); // distinct values in first-seen order (w words each)
let rank = new Uint32Array(0); // local id -> index in the sorted table
let sort32 = new Uint32Array(0);
let sort64 = new BigUint64Array(0);
let sort64w = new Uint32Array(0); // word view of sort64
let hKey = new Int32Array(0); // hash slot -> local id
let hStamp = new Uint32Array(0); // slot valid iff hStamp[slot] === gen
let hMask = 0;
let hShift = 0;
let gen = 0;

function ensure(extra: number): void {
  if (len + extra <= out.length) return;
  let cap = out.length * 2;
  while (cap < len + extra) cap *= 2;
  const next = new Uint32Array(cap);
  next.set(out.subarray(0, len));
  out = next;
}

function prepareScratch(blockVoxels: number): void {
  if (localIdx.length < blockVoxels) {
    localIdx = new Uint32Array(blockVoxels);
    uniq = new Uint32Array(2 * blockVoxels);
    rank = new Uint32Array(blockVoxels);
    sort32 = new Uint32Array(blockVoxels);
    sort64 = new BigUint64Array(blockVoxels);
    sort64w = new Uint32Array(sort64.buffer);
  }
  let cap = 16;
  while (cap < 2 * blockVoxels) cap *= 2;
  if (hKey.length < cap) {
    hKey = new Int32Array(cap);
    hStamp = new Uint32Array(cap);
    gen = 0;
  }
  hMask = hKey.length - 1;
  hShift = 32 - Math.log2(hKey.length);
}

function nextGeneration(): void {
  gen++;
  if (gen === 0xffffffff) {
    hStamp.fill(0);
    gen = 1;
  }
}

function hash32(lo: number): number {
  return Math.imul(lo, 0x9e3779b1) >>> hShift;
}

function hash64(lo: number, hi: number): number {
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> hShift;
}

/** Local id of a uint32 value already in the table. */
function find32(v: number): number {
  let h = hash32(v);
  while (uniq[hKey[h]] !== v) h = (h + 1) & hMask;
  return hKey[h];
}

function find64(lo: number, hi: number): number {
  let h = hash64(lo, hi);
  for (;;) {
    const id = hKey[h];
    if (uniq[2 * id] === lo && uniq[2 * id + 1] === hi) return id;
    h = (h + 1) & hMask;
  }
}

/**
 * Assign local ids to the in-chunk voxels of one block (uint32). `base` indexes the block's first
 * voxel in `src`; (ex, ey, ez) is the block's extent inside the chunk. Returns the distinct count.
 */
function collect32(
  src: Uint32Array,
  base: number,
  sx: number,
  sy: number,
  ex: number,
  ey: number,
  ez: number,
  bx: number,
  by: number,
): number {
  nextGeneration();
  // Module-level scratch copied to locals: context loads are slow in hot loops.
  const g = gen;
  const mask = hMask;
  const shift = hShift;
  const stamp = hStamp;
  const keys = hKey;
  const un = uniq;
  const li = localIdx;
  let last = src[base];
  let lastId = 0;
  let n = 1;
  un[0] = last;
  let h0 = Math.imul(last, 0x9e3779b1) >>> shift;
  stamp[h0] = g;
  keys[h0] = 0;
  for (let z = 0; z < ez; z++) {
    for (let y = 0; y < ey; y++) {
      const s = base + sx * (y + sy * z);
      const p = bx * (y + by * z);
      for (let x = 0; x < ex; x++) {
        const v = src[s + x];
        if (v !== last) {
          last = v;
          h0 = Math.imul(v, 0x9e3779b1) >>> shift;
          for (;;) {
            if (stamp[h0] !== g) {
              stamp[h0] = g;
              keys[h0] = n;
              un[n] = v;
              lastId = n++;
              break;
            }
            const id = keys[h0];
            if (un[id] === v) {
              lastId = id;
              break;
            }
            h0 = (h0 + 1) & mask;
          }
        }
        li[p + x] = lastId;
      }
    }
  }
  return n;
}

/** As {@link collect32} for uint64 values stored as (lo, hi) word pairs; `base` is a voxel index. */
function collect64(
  src: Uint32Array,
  base: number,
  sx: number,
  sy: number,
  ex: number,
  ey: number,
  ez: number,
  bx: number,
  by: number,
): number {
  nextGeneration();
  const g = gen;
  const mask = hMask;
  const stamp = hStamp;
  const keys = hKey;
  const un = uniq;
  const li = localIdx;
  let lastLo = src[2 * base];
  let lastHi = src[2 * base + 1];
  let lastId = 0;
  let n = 1;
  un[0] = lastLo;
  un[1] = lastHi;
  let h0 = hash64(lastLo, lastHi);
  stamp[h0] = g;
  keys[h0] = 0;
  for (let z = 0; z < ez; z++) {
    for (let y = 0; y < ey; y++) {
      const s = 2 * (base + sx * (y + sy * z));
      const p = bx * (y + by * z);
      for (let x = 0; x < ex; x++) {
        const lo = src[s + 2 * x];
        const hi = src[s + 2 * x + 1];
        if (lo !== lastLo || hi !== lastHi) {
          lastLo = lo;
          lastHi = hi;
          h0 = hash64(lo, hi);
          for (;;) {
            if (stamp[h0] !== g) {
              stamp[h0] = g;
              keys[h0] = n;
              un[2 * n] = lo;
              un[2 * n + 1] = hi;
              lastId = n++;
              break;
            }
            const id = keys[h0];
            if (un[2 * id] === lo && un[2 * id + 1] === hi) {
              lastId = id;
              break;
            }
            h0 = (h0 + 1) & mask;
          }
        }
        li[p + x] = lastId;
      }
    }
  }
  return n;
}

/** Sort the n distinct values, fill `rank`, and return the sorted table's words. */
function sortTable(n: number, w: 1 | 2): Uint32Array {
  if (n === 1) {
    rank[0] = 0;
    return uniq.subarray(0, w);
  }
  if (w === 1) {
    const s = sort32.subarray(0, n);
    s.set(uniq.subarray(0, n));
    s.sort();
    for (let k = 0; k < n; k++) rank[find32(s[k])] = k;
    return s;
  }
  sort64w.set(uniq.subarray(0, 2 * n));
  sort64.subarray(0, n).sort();
  for (let k = 0; k < n; k++) rank[find64(sort64w[2 * k], sort64w[2 * k + 1])] = k;
  return sort64w.subarray(0, 2 * n);
}

function tableHash(table: Uint32Array): number {
  let h = 0x811c9dc5 ^ table.length;
  for (let i = 0; i < table.length; i++) h = Math.imul(h ^ table[i], 0x01000193);
  return h >>> 0;
}

/** Encode channel stream starting at `len`. `chanBase` is the channel's first voxel index. */
function encodeChannel(
  src: Uint32Array,
  w: 1 | 2,
  chanBase: number,
  shape: Vec3,
  blockSize: Vec3,
): void {
  const [sx, sy, sz] = shape;
  const [bx, by, bz] = blockSize;
  const [gx, gy, gz] = blockGrid(shape, blockSize);
  const blockVoxels = bx * by * bz;
  const start = len;
  ensure(2 * gx * gy * gz);
  len += 2 * gx * gy * gz;
  // Sorted table words -> channel-relative offsets of identical tables already written.
  const tables = new Map<number, number[]>();
  let block = 0;
  for (let iz = 0; iz < gz; iz++) {
    const ez = Math.min(bz, sz - iz * bz);
    for (let iy = 0; iy < gy; iy++) {
      const ey = Math.min(by, sy - iy * by);
      for (let ix = 0; ix < gx; ix++, block++) {
        const ex = Math.min(bx, sx - ix * bx);
        const base = chanBase + ix * bx + sx * (iy * by + sy * iz * bz);
        const n =
          w === 1
            ? collect32(src, base, sx, sy, ex, ey, ez, bx, by)
            : collect64(src, base, sx, sy, ex, ey, ez, bx, by);
        const table = sortTable(n, w);
        let bits = 0;
        if (n > 1) {
          bits = 1;
          while (bits < 32 && 2 ** bits < n) bits *= 2;
        }
        // Packed indices, sized for the full block.
        const nWords = bits === 0 ? 0 : Math.ceil((bits * blockVoxels) / 32);
        ensure(nWords + table.length);
        const o = out;
        const ev = len - start;
        if (bits > 0) {
          const at = len;
          const rk = rank;
          const li = localIdx;
          o.fill(0, at, at + nWords);
          for (let z = 0; z < ez; z++) {
            for (let y = 0; y < ey; y++) {
              const p = bx * (y + by * z);
              for (let x = 0; x < ex; x++) {
                const bp = (p + x) * bits;
                o[at + (bp >>> 5)] |= rk[li[p + x]] << (bp & 31);
              }
            }
          }
          len += nWords;
        }
        // Lookup table, shared with an earlier identical one when possible.
        const key = tableHash(table);
        let tbl = -1;
        const seen = tables.get(key);
        if (seen) {
          for (let k = 0; k < seen.length && tbl < 0; k += 2) {
            if (seen[k + 1] !== table.length) continue;
            const at = start + seen[k];
            let same = true;
            for (let i = 0; i < table.length && same; i++) same = o[at + i] === table[i];
            if (same) tbl = seen[k];
          }
        }
        if (tbl < 0) {
          tbl = len - start;
          o.set(table, len);
          len += table.length;
          if (seen) seen.push(tbl, table.length);
          else tables.set(key, [tbl, table.length]);
        }
        if (len - 1 > MAX_OFFSET) {
          throw new VoxportError(
            "CODEC",
            `compressed_segmentation: encoded chunk exceeds 2^24 words (offsets are 24-bit)`,
          );
        }
        o[start + 2 * block] = (tbl | (bits << 24)) >>> 0;
        o[start + 2 * block + 1] = ev;
      }
    }
  }
}

/**
 * Encode a uint32 or uint64 block as a compressed_segmentation chunk (any channel count, any
 * block size; the block's shape is the chunk's clipped shape).
 * @throws VoxportError("UNSUPPORTED") for other dtypes; ("INVALID_ARGUMENT") if the data does
 *   not match dtype/shape; ("CODEC") if the result would overflow 24-bit offsets
 */
export function encodeCompressedSegmentation(block: Block, blockSize: Vec3): Uint8Array {
  const w = wordsPerValue(block.dtype);
  checkShape(block.shape, blockSize);
  const [sx, sy, sz, nc] = block.shape;
  const voxels = sx * sy * sz;
  const { data } = block;
  const typeOk = w === 1 ? data instanceof Uint32Array : data instanceof BigUint64Array;
  if (!typeOk || data.length !== voxels * nc) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `compressed_segmentation: ${block.dtype} block [${block.shape}] needs ${voxels * nc} values in a ${w === 1 ? "Uint32Array" : "BigUint64Array"}, got ${data.length} in a ${data.constructor.name}`,
    );
  }
  const src =
    w === 1
      ? (data as Uint32Array)
      : new Uint32Array(data.buffer, data.byteOffset, 2 * data.length);
  prepareScratch(blockSize[0] * blockSize[1] * blockSize[2]);
  len = 0;
  ensure(nc);
  len = nc;
  for (let c = 0; c < nc; c++) {
    out[c] = len;
    encodeChannel(src, w, c * voxels, [sx, sy, sz], blockSize);
  }
  return new Uint8Array(out.buffer.slice(0, 4 * len));
}
