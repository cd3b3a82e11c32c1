/**
 * Contrast-limited adaptive histogram equalisation of an 8-bit image, computed the way
 * scikit-image's `equalize_adapthist` does (0.19 and later), because that is what emwrite's
 * `/alignedslice` applied and what its users' data look like:
 *
 *  1. grey levels are stretched to 0…16383 over `range` (default: the image's own min…max),
 *     rounded half to even;
 *  2. the image is mirrored ("reflect", edge not repeated) by half a kernel before and up to a
 *     whole number of kernels plus half a kernel after, then cut into kernel-sized contextual
 *     regions starting half a kernel in;
 *  3. per region, a histogram of 256 bins (level ÷ 65) is clipped at clip × kernel area (at
 *     least 1; no clipping when clip ≤ 0), the excess spread back evenly, and its cumulative sum
 *     scaled to 0…16383 is the region's mapping;
 *  4. each pixel's value is the bilinear blend of the mappings of the four regions around it,
 *     accumulated in float32 and truncated;
 *  5. the result is stretched to 0…1 over its own min…max and, as emwrite did, × 255 truncated.
 *
 * Checked against scikit-image itself in test/interop/clahe.test.ts.
 */

const GREY = 16384;
const NBINS = 256;
const BIN = 1 + Math.floor(GREY / NBINS); // 65

export interface ClaheOptions {
  /** Contextual region size (square), as skimage's kernel_size. */
  kernel: number;
  /** Normalised clip limit (skimage's clip_limit); ≤ 0 means plain adaptive equalisation. */
  clipLimit: number;
  /** Input range stretched to the full scale; default the image's own min and max. */
  range?: [number, number];
}

/** Rounds half to even, as numpy's round. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy's "reflect" padding index for position i of a line of n (any distance out). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - k;
}

/** Clips a histogram at `limit` and hands the excess back evenly (skimage's rules). */
export function clipHistogram(hist: Int32Array, limit: number): void {
  let excess = 0;
  for (let i = 0; i < hist.length; i++) {
    if (hist[i] > limit) {
      excess += hist[i] - limit;
      hist[i] = limit;
    }
  }
  const increment = Math.floor(excess / hist.length);
  const upper = limit - increment;
  for (let i = 0; i < hist.length; i++) {
    if (hist[i] < upper) {
      hist[i] += increment;
      excess -= increment;
    }
  }
  // Then (after that raise, as skimage does) bins between upper and the limit are filled up.
  for (let i = 0; i < hist.length; i++) {
    if (hist[i] >= upper && hist[i] < limit) {
      excess -= limit - hist[i];
      hist[i] = limit;
    }
  }
  // What is left goes out one per bin, in strides that spread it over the bins under the limit.
  while (excess > 0) {
    const before = excess;
    for (let start = 0; start < hist.length; start++) {
      let under = 0;
      for (let i = 0; i < hist.length; i++) if (hist[i] < limit) under++;
      const step = Math.max(1, Math.floor(under / excess));
      for (let i = start; i < hist.length; i += step) {
        if (hist[i] < limit) {
          hist[i]++;
          excess--;
        }
      }
      if (excess <= 0) break;
    }
    if (excess === before) break;
  }
}

/**
 * CLAHE of `img` (w × h, 8-bit, row-major) → a new 8-bit image. A flat image (one grey level)
 * comes back unchanged: there is nothing to equalise, and skimage's answer there is undefined.
 */
export function clahe(img: Uint8Array, w: number, h: number, o: ClaheOptions): Uint8Array {
  let [lo, hi] = o.range ?? [255, 0];
  if (!o.range) {
    for (let i = 0; i < img.length; i++) {
      if (img[i] < lo) lo = img[i];
      if (img[i] > hi) hi = img[i];
    }
  }
  if (hi <= lo) return img.slice();
  // Step 1: 8-bit → 16-bit (× 257) → 0…16383, then to its histogram bin.
  const binOf = new Uint8Array(256);
  const lo16 = lo * 257;
  const span16 = (hi - lo) * 257;
  for (let v = 0; v < 256; v++) {
    const c = Math.min(Math.max(v * 257, lo16), hi * 257);
    binOf[v] = Math.floor(roundEven(((c - lo16) / span16) * (GREY - 1)) / BIN);
  }
  // Step 2: regions over the padded image.
  const k = o.kernel;
  const half = k >> 1;
  const padW = w + ((k - (w % k)) % k) + half + Math.ceil(k / 2);
  const padH = h + ((k - (h % k)) % k) + half + Math.ceil(k / 2);
  const nx = padW / k - 1;
  const ny = padH / k - 1;
  const rowOf = (py: number) => reflect(py - half, h) * w;
  const colOf = new Int32Array(padW);
  for (let px = 0; px < padW; px++) colOf[px] = reflect(px - half, w);
  // Step 3: a mapping per region.
  const area = k * k;
  const limit = o.clipLimit > 0 ? Math.max(1, Math.floor(o.clipLimit * area)) : area;
  const scale = (GREY - 1) / area;
  const maps: Int32Array[] = [];
  const hist = new Int32Array(NBINS);
  for (let ry = 0; ry < ny; ry++) {
    for (let rx = 0; rx < nx; rx++) {
      hist.fill(0);
      for (let py = half + ry * k; py < half + (ry + 1) * k; py++) {
        const row = rowOf(py);
        for (let px = half + rx * k; px < half + (rx + 1) * k; px++)
          hist[binOf[img[row + colOf[px]]]]++;
      }
      clipHistogram(hist, limit);
      const map = new Int32Array(NBINS);
      let sum = 0;
      for (let b = 0; b < NBINS; b++) {
        sum += hist[b];
        map[b] = Math.trunc(Math.min(sum * scale, GREY - 1));
      }
      maps.push(map);
    }
  }
  // The mappings, padded by one region on each side with the edge ones (references, no copies).
  const px2 = nx + 2;
  const padded: Int32Array[] = [];
  for (let ry = 0; ry < ny + 2; ry++) {
    for (let rx = 0; rx < px2; rx++) {
      padded.push(
        maps[Math.min(Math.max(ry - 1, 0), ny - 1) * nx + Math.min(Math.max(rx - 1, 0), nx - 1)],
      );
    }
  }
  // Step 4: blend the four mappings around each pixel, in float32 as skimage does, and truncate.
  const blended = new Uint16Array(w * h);
  const f = Math.fround;
  let rmin = GREY;
  let rmax = 0;
  for (let y = 0; y < h; y++) {
    const py = y + half;
    const top = Math.floor(py / k) * px2;
    const u = (py % k) / k;
    const cy0 = 1 - u;
    for (let x = 0; x < w; x++) {
      const px = x + half;
      const bx = Math.floor(px / k);
      const v = (px % k) / k;
      const cx0 = 1 - v;
      const bin = binOf[img[y * w + x]];
      let acc = f(padded[top + bx][bin] * (cx0 * cy0));
      acc = f(acc + f(padded[top + bx + 1][bin] * (v * cy0)));
      acc = f(acc + f(padded[top + px2 + bx][bin] * (cx0 * u)));
      acc = f(acc + f(padded[top + px2 + bx + 1][bin] * (v * u)));
      const r = Math.trunc(acc);
      blended[y * w + x] = r;
      if (r < rmin) rmin = r;
      if (r > rmax) rmax = r;
    }
  }
  // Step 5: stretch over the result's own range, × 255, truncate.
  const out = new Uint8Array(w * h);
  if (rmax === rmin) return out;
  const rspan = rmax - rmin;
  for (let i = 0; i < out.length; i++) out[i] = Math.trunc(((blended[i] - rmin) / rspan) * 255);
  return out;
}
