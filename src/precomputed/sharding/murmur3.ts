/**
 * MurmurHash3_x86_128 of a single uint64 key, as the precomputed sharded format uses it
 * (precomputed-format.md §4.2; NG util/hash.ts, TS murmurhash3.cc).
 *
 * The key is hashed as its 8 little-endian bytes. With exactly 8 bytes there is no full 16-byte
 * block, so the algorithm reduces to the tail step plus finalisation; h3 and h4 only feed h1.
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The four 32-bit state words (h1, h2) of MurmurHash3_x86_128 over the 8 LE bytes `lo`,`hi`,
 * starting from `seed` in all four words. Only h1 and h2 are returned: they are the low 64 bits.
 */
export function murmurHash3X86_128Words(lo: number, hi: number, seed = 0): [number, number] {
  let h1 = seed | 0;
  let h2 = seed | 0;
  let h3 = seed | 0;
  let h4 = seed | 0;
  // Tail bytes 4..7 (k2), then bytes 0..3 (k1).
  const k2 = Math.imul(rotl32(Math.imul(hi, C2), 16), C3);
  h2 ^= k2;
  const k1 = Math.imul(rotl32(Math.imul(lo, C1), 15), C2);
  h1 ^= k1;
  // Finalisation with length 8.
  h1 ^= 8;
  h2 ^= 8;
  h3 ^= 8;
  h4 ^= 8;
  h1 = (h1 + h2) | 0;
  h1 = (h1 + h3) | 0;
  h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2) | 0;
  h1 = (h1 + h3) | 0;
  h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0];
}

/**
 * Low 64 bits (`h1 | h2 << 32`) of MurmurHash3_x86_128 of `key` as 8 little-endian bytes.
 * @param key uint64 in [0, 2^64)
 * @param seed uint32 seed loaded into all four state words (the format uses 0)
 * @throws RangeError if `key` is not a uint64
 */
export function murmurHash3X86_128Low64(key: bigint, seed = 0): bigint {
  if (key < 0n || key > UINT64_MAX) throw new RangeError(`key ${key} is not a uint64`);
  const [h1, h2] = murmurHash3X86_128Words(Number(key & 0xffff_ffffn), Number(key >> 32n), seed);
  return BigInt(h1) | (BigInt(h2) << 32n);
}
