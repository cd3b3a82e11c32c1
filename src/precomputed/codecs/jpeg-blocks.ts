/**
 * A faster route to the same JPEG bytes for tall greyscale chunk images (jpeg.ts encodeJpeg).
 *
 * A chunk's image is `sx` wide and `sy*sz` tall: 64×4096 for a 64³ chunk. libvips (under sharp)
 * works through an image in strips of a few rows, each with a fixed cost, so that shape costs ~2×
 * the CPU of the same pixels as 512×512 (measured 4.3 vs 2.2 ms per 64³ chunk). A 1-component
 * baseline JPEG is the sequence of its 8×8 blocks in raster order, DC predicted from the previous
 * block in that sequence across row ends; nothing else depends on the width. So the blocks are
 * regrouped into a wider image whose raster order is the same block sequence, that image is
 * encoded, and the frame header's width and height are set back: byte for byte the JPEG of the
 * tall image (jpeg.test.ts checks this against direct encodes).
 */

const MAX_SIDE = 65535;

/**
 * Offset of the first frame header (SOF0–SOF15 except DHT/JPG/DAC) marker, or -1 when there is
 * none before the scan data, or it is cut short. Assumes the stream starts with SOI.
 */
export function findSof(bytes: Uint8Array): number {
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) break;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const isSof =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return i + 10 <= bytes.length ? i : -1;
    if (marker === 0xda || marker === 0xd9) break; // scan data or end before any frame header
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return -1;
}

export interface Regrouped {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/**
 * The 1-byte-per-pixel image of `width` × `height` whose row t starts at `rowOffset(t)` in `src`
 * (default: packed rows; a chunk inside a larger block otherwise), with its 8×8 blocks regrouped
 * into a near-square image of the same blocks in the same raster order. Undefined when that is
 * not possible (a side not a multiple of 8) or gains nothing (already about as wide as tall).
 */
export function regroupBlocks(
  src: Uint8Array,
  width: number,
  height: number,
  rowOffset: (t: number) => number = (t) => t * width,
): Regrouped | undefined {
  if (width % 8 !== 0 || height % 8 !== 0) return undefined;
  // m bands of 8 rows side by side: m must divide the band count; aim for a square image.
  const bands = height / 8;
  let m = Math.min(bands, Math.floor(Math.sqrt(height / width)), Math.floor(MAX_SIDE / width));
  while (m > 1 && bands % m !== 0) m--;
  if (m < 2) return undefined;
  const wide = m * width;
  const out = new Uint8Array(width * height);
  // Tall row t: band b = t / 8 goes to wide band b / m, at column (b % m) * width.
  for (let t = 0; t < height; t++) {
    const b = t >>> 3;
    const at = (8 * Math.floor(b / m) + (t & 7)) * wide + (b % m) * width;
    const from = rowOffset(t);
    out.set(src.subarray(from, from + width), at);
  }
  return { pixels: out, width: wide, height: height / m };
}

/** Set the frame header's size of a JPEG in place. @throws Error when it has no frame header */
export function setJpegSize(bytes: Uint8Array, width: number, height: number): void {
  const i = findSof(bytes);
  if (i < 0) throw new Error("jpeg: no frame header (SOF) to resize");
  bytes[i + 5] = height >>> 8;
  bytes[i + 6] = height & 0xff;
  bytes[i + 7] = width >>> 8;
  bytes[i + 8] = width & 0xff;
}
