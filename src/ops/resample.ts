/**
 * 2-D affine resampling of one section into an output window: the pure core shared by the
 * aligned-section source (registry files, per-section affines) and the HTTP service's
 * `/alignedslice`, so both produce the same voxels for the same section and transform.
 *
 * Conventions (chosen once, used everywhere):
 *  - Pixel (i, j) is the unit square [i, i+1) × [j, j+1); its centre is (i + ½, j + ½).
 *  - An affine is emwrite's six numbers `[a, b, c, d, e, f]` mapping SOURCE to OUTPUT:
 *    x' = a·x + c·y + e,  y' = b·x + d·y + f  (continuous coordinates as above).
 *  - Each output pixel takes the value at the source point its centre maps back to.
 *    `nearest` takes the pixel containing that point (labels); `linear` interpolates between
 *    the four nearest pixel centres (images), clamping at the image edge so that the image
 *    covers exactly the squares of its pixels: no dark rim, and an integer translation copies
 *    pixels exactly.
 *  - Points outside the source image read as 0.
 */
import { VoxportError } from "../errors.js";
import type { DataType, TypedArray } from "./array.js";

export type Affine2 = readonly [number, number, number, number, number, number];

export const IDENTITY: Affine2 = [1, 0, 0, 1, 0, 0];

export type ResampleMethod = "linear" | "nearest";

/** Half-open integer rectangle [x0, x1) × [y0, y1). */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * A window of a 2-D image with `channels` planes: pixel (x0 + i, y0 + j) of channel c is
 * `data[(c * height + j) * width + i]` — the layout of one z-slice of a Block.
 */
export interface Plane {
  data: TypedArray;
  x0: number;
  y0: number;
  width: number;
  height: number;
  channels: number;
}

/**
 * Accepts `[a, b, c, d, e, f]` as an array of numbers, a JSON string of one (emwrite sends
 * `"[a, b, c, d, e, f]"`), or the same six numbers separated by spaces or commas.
 * `where` names the file/line/field for the error.
 */
export function parseAffine(value: unknown, where: string): Affine2 {
  let items: unknown = value;
  if (typeof value === "string") {
    const text = value.trim().replace(/^\[/, "").replace(/\]$/, "");
    items =
      text.length === 0 ? [] : text.split(/[\s,]+/).map((t) => (t === "" ? Number.NaN : Number(t)));
  }
  if (!Array.isArray(items) || items.length !== 6) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${where}: an affine needs six numbers [a b c d e f] (x' = a·x + c·y + e, y' = b·x + d·y + f), got ${JSON.stringify(value)}`,
    );
  }
  const m = items.map(Number);
  if (
    m.some((v) => !Number.isFinite(v)) ||
    items.some((v) => typeof v !== "number" && typeof v !== "string")
  ) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${where}: affine ${JSON.stringify(value)} has a value that is not a finite number`,
    );
  }
  invertAffine(m as unknown as Affine2, where);
  return m as unknown as Affine2;
}

export function applyAffine(m: Affine2, x: number, y: number): [number, number] {
  return [m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]];
}

/** The output → source map. A singular (or nearly so) matrix is bad input, not a crash. */
export function invertAffine(m: Affine2, where = "affine"): Affine2 {
  const [a, b, c, d, e, f] = m;
  const det = a * d - b * c;
  const scale = Math.max(Math.abs(a), Math.abs(b), Math.abs(c), Math.abs(d));
  if (!(Math.abs(det) > 1e-12 * scale * scale) || !Number.isFinite(det)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${where}: affine [${m.join(" ")}] is singular (determinant ${det}); it would squash the section to a line`,
    );
  }
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  return [ia, ib, ic, id, -(ia * e + ic * f), -(ib * e + id * f)];
}

/** Composes two affines: the result applies `first`, then `second`. */
export function composeAffine(first: Affine2, second: Affine2): Affine2 {
  const [a1, b1, c1, d1, e1, f1] = first;
  const [a2, b2, c2, d2, e2, f2] = second;
  return [
    a2 * a1 + c2 * b1,
    b2 * a1 + d2 * b1,
    a2 * c1 + c2 * d1,
    b2 * c1 + d2 * d1,
    a2 * e1 + c2 * f1 + e2,
    b2 * e1 + d2 * f1 + f2,
  ];
}

/**
 * Where the section lands in output coordinates: the integer rectangle covering the image of
 * its corners. Useful to size a canvas (`bbox`) or to skip sections that miss a task box.
 */
export function outputExtent(m: Affine2, width: number, height: number): Rect {
  const pts = [
    applyAffine(m, 0, 0),
    applyAffine(m, width, 0),
    applyAffine(m, 0, height),
    applyAffine(m, width, height),
  ];
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return {
    x0: Math.floor(Math.min(...xs)),
    y0: Math.floor(Math.min(...ys)),
    x1: Math.ceil(Math.max(...xs)),
    y1: Math.ceil(Math.max(...ys)),
  };
}

/**
 * The source pixels that output window `out` can read, clipped to the image
 * [0, width) × [0, height); undefined when it reads none. Read only this region of the section
 * so memory follows the task box, not the section.
 */
export function sourceFootprint(
  m: Affine2,
  out: Rect,
  width: number,
  height: number,
  method: ResampleMethod,
): Rect | undefined {
  if (out.x1 <= out.x0 || out.y1 <= out.y0) return undefined;
  const inv = invertAffine(m);
  // The centres of the corner pixels bound the centres of all pixels (an affine keeps hulls).
  const pts = [
    applyAffine(inv, out.x0 + 0.5, out.y0 + 0.5),
    applyAffine(inv, out.x1 - 0.5, out.y0 + 0.5),
    applyAffine(inv, out.x0 + 0.5, out.y1 - 0.5),
    applyAffine(inv, out.x1 - 0.5, out.y1 - 0.5),
  ];
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  // linear reads the pixels whose centres surround the point: ±1 around it; nearest the one
  // containing it. One extra pixel absorbs floating-point rounding at the boundary.
  const pad = method === "linear" ? 1.5 : 1;
  const r: Rect = {
    x0: Math.max(0, Math.floor(Math.min(...xs) - pad)),
    y0: Math.max(0, Math.floor(Math.min(...ys) - pad)),
    x1: Math.min(width, Math.ceil(Math.max(...xs) + pad)),
    y1: Math.min(height, Math.ceil(Math.max(...ys) + pad)),
  };
  return r.x1 > r.x0 && r.y1 > r.y0 ? r : undefined;
}

function maxOf(dtype: DataType): number {
  switch (dtype) {
    case "uint8":
      return 255;
    case "int8":
      return 127;
    case "uint16":
      return 65535;
    case "int16":
      return 32767;
    case "uint32":
      return 4294967295;
    case "int32":
      return 2147483647;
    default:
      return Number.POSITIVE_INFINITY;
  }
}

function minOf(dtype: DataType): number {
  switch (dtype) {
    case "int8":
      return -128;
    case "int16":
      return -32768;
    case "int32":
      return -2147483648;
    case "float32":
      return Number.NEGATIVE_INFINITY;
    default:
      return 0;
  }
}

/**
 * Renders source window `src` of a `width × height` section through `m` into `out` (which it
 * overwrites entirely: pixels that map outside the section, or outside `src`, become 0).
 * `src` must contain `sourceFootprint(m, out, …)` for the result to be complete.
 */
export function warpAffine(
  src: Plane,
  width: number,
  height: number,
  m: Affine2,
  out: Plane,
  method: ResampleMethod,
  dtype: DataType,
): void {
  if (src.channels !== out.channels) {
    throw new Error(`warpAffine: ${src.channels} source channels vs ${out.channels} output`);
  }
  if (method === "linear" && dtype === "uint64") {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      "uint64 sections are labels: resample them with nearest, not linear interpolation",
    );
  }
  out.data.fill(0 as never);
  const inv = invertAffine(m);
  const [ia, ib, ic, id, ie, iff] = inv;
  // The readable area: the section clipped to the window we were given.
  const rx0 = Math.max(0, src.x0);
  const ry0 = Math.max(0, src.y0);
  const rx1 = Math.min(width, src.x0 + src.width);
  const ry1 = Math.min(height, src.y0 + src.height);
  if (rx1 <= rx0 || ry1 <= ry0) return;
  const lo = minOf(dtype);
  const hi = maxOf(dtype);
  const round = dtype !== "float32";
  const sp = src.width * src.height;
  const op = out.width * out.height;
  const s = src.data as unknown as ArrayLike<number> & ArrayLike<bigint>;
  const o = out.data as unknown as { [i: number]: number | bigint };
  for (let j = 0; j < out.height; j++) {
    const oy = out.y0 + j + 0.5;
    // Row terms once; the x terms per pixel, not by accumulating steps: accumulated rounding
    // would depend on where the window starts, and rational affines put many pixel centres
    // exactly on source pixel edges, so two task boxes could disagree on a voxel they share.
    const rx = ic * oy + ie;
    const ry = id * oy + iff;
    for (let i = 0; i < out.width; i++) {
      const ox = out.x0 + i + 0.5;
      const x = ia * ox + rx;
      const y = ib * ox + ry;
      if (x < 0 || y < 0 || x >= width || y >= height) continue;
      const oi = j * out.width + i;
      if (method === "nearest") {
        const px = Math.floor(x);
        const py = Math.floor(y);
        if (px < rx0 || py < ry0 || px >= rx1 || py >= ry1) continue;
        const si = (py - src.y0) * src.width + (px - src.x0);
        for (let c = 0; c < out.channels; c++) o[c * op + oi] = s[c * sp + si];
        continue;
      }
      // Pixel-centre space: centre of pixel k is at k. Clamp to the edge centres.
      const u = Math.min(Math.max(x - 0.5, 0), width - 1);
      const v = Math.min(Math.max(y - 0.5, 0), height - 1);
      const u0 = Math.floor(u);
      const v0 = Math.floor(v);
      const u1 = Math.min(u0 + 1, width - 1);
      const v1 = Math.min(v0 + 1, height - 1);
      if (u0 < rx0 || v0 < ry0 || u1 >= rx1 || v1 >= ry1) continue;
      const fu = u - u0;
      const fv = v - v0;
      const i00 = (v0 - src.y0) * src.width + (u0 - src.x0);
      const i10 = i00 + (u1 - u0);
      const i01 = i00 + (v1 - v0) * src.width;
      const i11 = i01 + (u1 - u0);
      for (let c = 0; c < out.channels; c++) {
        const base = c * sp;
        const top = (s[base + i00] as number) * (1 - fu) + (s[base + i10] as number) * fu;
        const bottom = (s[base + i01] as number) * (1 - fu) + (s[base + i11] as number) * fu;
        let value = top * (1 - fv) + bottom * fv;
        if (round) value = Math.min(hi, Math.max(lo, Math.round(value)));
        o[c * op + oi] = value;
      }
    }
  }
}
