/**
 * TIFF chunk (tile or strip) decompression and predictors. Each decoder writes at most `size`
 * bytes (the chunk's pixel bytes), so a corrupt or hostile stream cannot make it allocate more.
 */
import { inflateSync } from "node:zlib";
import { COMPRESSION } from "./ifd.js";

/** Decompressed bytes of one chunk, exactly `size` long (zero-padded when the stream is short). */
export function decompress(compression: number, input: Buffer, size: number): Uint8Array {
  switch (compression) {
    case COMPRESSION.none:
      return input.length >= size ? input.subarray(0, size) : padded(input, size);
    case COMPRESSION.deflate:
    case COMPRESSION.deflateOld: {
      // Writers round strips up; a stream longer than the chunk is cut, not an error.
      const out = inflateSync(input, { maxOutputLength: Math.max(size, 1) + 65536 });
      return out.length >= size ? out.subarray(0, size) : padded(out, size);
    }
    case COMPRESSION.lzw:
      return lzwDecode(input, size);
    case COMPRESSION.packbits:
      return packbitsDecode(input, size);
    default:
      throw new Error(`compression ${compression} has no decoder`);
  }
}

function padded(src: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(src.subarray(0, size));
  return out;
}

/**
 * TIFF LZW: codes MSB-first, 9 to 12 bits, Clear = 256, EndOfInformation = 257, the code width
 * grows one code early (when the next free code reaches 2^width − 1), as libtiff writes it.
 */
export function lzwDecode(input: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const length = new Uint16Array(4096);
  const first = new Uint8Array(4096);
  for (let i = 0; i < 256; i++) {
    suffix[i] = i;
    first[i] = i;
    length[i] = 1;
    prefix[i] = -1;
  }
  let width = 9;
  let next = 258;
  let old = -1;
  let pos = 0;
  let bitBuf = 0;
  let bitCount = 0;
  let inPos = 0;
  // Writes the string of `code` at `pos` (truncated at `size`); returns its length.
  const emit = (code: number): number => {
    const len = length[code];
    let c = code;
    for (let k = len - 1; k >= 0; k--) {
      if (pos + k < size) out[pos + k] = suffix[c];
      c = prefix[c];
    }
    return len;
  };
  while (pos < size) {
    while (bitCount < width) {
      if (inPos >= input.length) return out; // stream ended without EOI: keep what we have
      bitBuf = ((bitBuf << 8) | input[inPos++]) >>> 0;
      bitCount += 8;
    }
    const code = (bitBuf >>> (bitCount - width)) & ((1 << width) - 1);
    bitCount -= width;
    bitBuf &= (1 << bitCount) - 1;
    if (code === 257) break;
    if (code === 256) {
      width = 9;
      next = 258;
      old = -1;
      continue;
    }
    if (old === -1) {
      if (code > 255) throw new Error(`LZW: code ${code} right after a clear code`);
      out[pos++] = code;
      old = code;
      continue;
    }
    // A code not yet in the table (the KwKwK case) is the previous string plus its own first
    // byte: add the entry first, then emit it like any other.
    if (code > next) throw new Error(`LZW: code ${code} is beyond the table (${next})`);
    const firstByte = code < next ? first[code] : first[old];
    if (next < 4096) {
      prefix[next] = old;
      suffix[next] = firstByte;
      length[next] = length[old] + 1;
      first[next] = first[old];
      next++;
    }
    pos += emit(code);
    old = code;
    if (next >= (1 << width) - 1 && width < 12) width++;
  }
  return out;
}

/** PackBits: a signed count n, then n+1 literal bytes (n ≥ 0) or one byte repeated 1−n times. */
export function packbitsDecode(input: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let i = 0;
  let pos = 0;
  while (i < input.length && pos < size) {
    const n = (input[i++] << 24) >> 24;
    if (n >= 0) {
      const end = Math.min(i + n + 1, input.length);
      const len = Math.min(end - i, size - pos);
      out.set(input.subarray(i, i + len), pos);
      pos += len;
      i = end;
    } else if (n !== -128) {
      const v = input[i++];
      const len = Math.min(1 - n, size - pos);
      out.fill(v, pos, pos + len);
      pos += len;
    }
  }
  return out;
}

/** Undo horizontal differencing in place: samples are host-order integers, `spp` per pixel. */
export function undoHorizontal(
  data: Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array,
  rowLength: number,
  rows: number,
  spp: number,
): void {
  const rowSamples = rowLength * spp;
  for (let r = 0; r < rows; r++) {
    const base = r * rowSamples;
    for (let k = base + spp; k < base + rowSamples; k++) data[k] = data[k] + data[k - spp];
  }
}

/**
 * Undo the floating-point predictor (Adobe TN 3): bytes were differenced along the row, after
 * each row's values had been split into byte planes, most significant byte first. Returns
 * little-endian float32 bytes.
 */
export function undoFloatPredictor(
  data: Uint8Array,
  rowLength: number,
  rows: number,
  spp: number,
): Uint8Array {
  const n = rowLength * spp;
  const rowBytes = n * 4;
  const out = new Uint8Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * rowBytes;
    for (let k = base + 1; k < base + rowBytes; k++) data[k] = (data[k] + data[k - 1]) & 0xff;
    for (let i = 0; i < n; i++) {
      for (let b = 0; b < 4; b++) out[base + i * 4 + b] = data[base + (3 - b) * n + i];
    }
  }
  return out;
}
