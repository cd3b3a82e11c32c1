/**
 * The per-block half of the compressed_segmentation encoder (compressed-segmentation-encode.ts):
 * give each voxel of a block a local id, then sort the block's distinct values into its lookup
 * table and rank the local ids. Values are 32-bit words (uint64 as lo/hi pairs, never BigInt).
 *
 * One pass over the block: a voxel equal to the previous one reuses its id (the common case in
 * segmentation), else an open-addressing hash table (stamped per block, never cleared) finds or
 * adds it. The few distinct values are insertion-sorted (a native sort past SMALL_TABLE). The
 * results are left in module-level scratch, reused across blocks and calls (`localIdx`, `rank`);
 * the encoder is synchronous, so calls never interleave.
 */

/** Tables up to this many values are insertion-sorted: cheaper than a native sort call. */
const SMALL_TABLE = 16;

export let localIdx = new Uint32Array(0); // local id per in-block position
export let rank = new Uint32Array(0); // local id -> index in the sorted table
let uniq = new Uint32Array(0); // distinct values in first-seen order (w words each)
let order = new Uint32Array(0); // local ids in value order (small tables)
let sort32 = new Uint32Array(0);
let sort64 = new BigUint64Array(0);
let sort64w = new Uint32Array(0); // word view of sort64; also the sorted table of small uint64 tables
let hKey = new Int32Array(0); // hash slot -> local id
let hStamp = new Uint32Array(0); // slot valid iff hStamp[slot] === gen
let hMask = 0;
let hShift = 0;
let gen = 0;

export function pow2AtLeast(n: number): number {
  let cap = 16;
  while (cap < n) cap *= 2;
  return cap;
}

/** Size the scratch for blocks of `blockVoxels` voxels. */
export function prepareBlockScratch(blockVoxels: number): void {
  if (localIdx.length < blockVoxels) {
    localIdx = new Uint32Array(blockVoxels);
    uniq = new Uint32Array(2 * blockVoxels);
    rank = new Uint32Array(blockVoxels);
    order = new Uint32Array(blockVoxels);
    sort32 = new Uint32Array(blockVoxels);
    sort64 = new BigUint64Array(blockVoxels);
    sort64w = new Uint32Array(sort64.buffer);
  }
  const cap = pow2AtLeast(2 * blockVoxels);
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
 * voxel in `src`, whose rows and planes are `row` and `plane` values apart; (ex, ey, ez) is the
 * block's extent inside the chunk. Returns the distinct count.
 */
export function collect32(
  src: Uint32Array,
  base: number,
  row: number,
  plane: number,
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
      const s = base + row * y + plane * z;
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

/** As {@link collect32} for uint64 values stored as (lo, hi) word pairs; indices count values. */
export function collect64(
  src: Uint32Array,
  base: number,
  row: number,
  plane: number,
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
      const s = 2 * (base + row * y + plane * z);
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
export function sortTable(n: number, w: 1 | 2): Uint32Array {
  const un = uniq;
  if (n === 1) {
    rank[0] = 0;
    return un.subarray(0, w);
  }
  if (n <= SMALL_TABLE) {
    // Insertion sort of local ids by value (values are distinct).
    const o = order;
    for (let i = 0; i < n; i++) {
      let j = i;
      if (w === 1) {
        const v = un[i];
        for (; j > 0 && un[o[j - 1]] > v; j--) o[j] = o[j - 1];
      } else {
        const lo = un[2 * i];
        const hi = un[2 * i + 1];
        for (; j > 0; j--) {
          const q = o[j - 1];
          const qh = un[2 * q + 1];
          if (qh < hi || (qh === hi && un[2 * q] < lo)) break;
          o[j] = q;
        }
      }
      o[j] = i;
    }
    const t = w === 1 ? sort32 : sort64w;
    for (let k = 0; k < n; k++) {
      const id = o[k];
      rank[id] = k;
      if (w === 1) t[k] = un[id];
      else {
        t[2 * k] = un[2 * id];
        t[2 * k + 1] = un[2 * id + 1];
      }
    }
    return t.subarray(0, w * n);
  }
  if (w === 1) {
    const s = sort32.subarray(0, n);
    s.set(un.subarray(0, n));
    s.sort();
    for (let k = 0; k < n; k++) rank[find32(s[k])] = k;
    return s;
  }
  sort64w.set(un.subarray(0, 2 * n));
  sort64.subarray(0, n).sort();
  for (let k = 0; k < n; k++) rank[find64(sort64w[2 * k], sort64w[2 * k + 1])] = k;
  return sort64w.subarray(0, 2 * n);
}
