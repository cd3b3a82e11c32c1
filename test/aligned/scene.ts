/**
 * A scene with known analytic geometry, and sections rendered from it through known affines.
 *
 * The scene lives in global (output) coordinates (X, Y) per z, continuous, pixel (x, y) being the
 * square [x, x+1) × [y, y+1). Image: a smooth pattern plus bright disks with sharp edges. Labels:
 * the index of the disk a point is in, or a background label (never 0, so that 0 in the output
 * means "outside every section").
 *
 * A section placed by affine A (section pixels → output, emwrite's [a b c d e f]) stores at
 * pixel (i, j) the scene at A(i + ½, j + ½): what a microscope would have recorded had the tissue
 * been moved by A⁻¹. Ingesting it through A must give back the scene.
 */
import { writeFile } from "node:fs/promises";
import sharp from "sharp";
import type { Affine2 } from "../../src/ops/resample.js";
import { writeNpy } from "../helpers/python.js";

export const BACKGROUND_LABEL = 7;

export interface Disk {
  cx: number;
  cy: number;
  r: number;
}

/** Smooth part: 100 + 50·sin(kx·X + z)·cos(ky·Y); the disks add DISK_STEP. */
export const KX = (2 * Math.PI) / 37;
export const KY = (2 * Math.PI) / 53;
export const AMP = 50;
export const DISK_STEP = 60;

export function smooth(X: number, Y: number, z: number): number {
  return 100 + AMP * Math.sin(KX * X + z) * Math.cos(KY * Y);
}

export function disksAt(z: number): Disk[] {
  return [
    { cx: 40 + 3 * z, cy: 50, r: 14 },
    { cx: 120, cy: 40 + 2 * z, r: 20 },
    { cx: 90, cy: 110, r: 9.5 },
  ];
}

function diskIndex(X: number, Y: number, z: number): number {
  const disks = disksAt(z);
  for (let k = 0; k < disks.length; k++) {
    const d = disks[k];
    if ((X - d.cx) ** 2 + (Y - d.cy) ** 2 < d.r * d.r) return k;
  }
  return -1;
}

export function image(X: number, Y: number, z: number): number {
  return smooth(X, Y, z) + (diskIndex(X, Y, z) >= 0 ? DISK_STEP : 0);
}

export function label(X: number, Y: number, z: number): number {
  const k = diskIndex(X, Y, z);
  return k >= 0 ? 100 + k : BACKGROUND_LABEL;
}

/** Distance from (X, Y) to the nearest disk edge. */
export function edgeDistance(X: number, Y: number, z: number): number {
  let d = Number.POSITIVE_INFINITY;
  for (const c of disksAt(z)) d = Math.min(d, Math.abs(Math.hypot(X - c.cx, Y - c.cy) - c.r));
  return d;
}

/** Largest |gradient| of the smooth part: AMP·|(kx, ky)|. */
export const SMOOTH_GRADIENT = AMP * Math.hypot(KX, KY);

/**
 * Bilinear interpolation error bound for the smooth part seen through A: in section pixels the
 * function is f(u, v) = S(A(u, v)), and tensor-product linear interpolation on a unit grid errs
 * by at most (max|f_uu| + max|f_vv|) / 8. With the columns c1 = (a, b), c2 = (c, d) of A,
 * f_uu = c1ᵀ H c1 and |f_uu| ≤ |c1|²·‖H‖, where ‖H‖ ≤ ‖H‖_F ≤ AMP·(kx² + ky²).
 */
export function interpolationBound(m: Affine2): number {
  const h = AMP * (KX * KX + KY * KY);
  return ((m[0] ** 2 + m[1] ** 2 + m[2] ** 2 + m[3] ** 2) * h) / 8;
}

/** Largest singular value of A's linear part: how far one section pixel reaches in the output. */
export function maxStretch(m: Affine2): number {
  const [a, b, c, d] = m;
  const s = a * a + b * b + c * c + d * d;
  const det = a * d - b * c;
  return Math.sqrt((s + Math.sqrt(Math.max(0, s * s - 4 * det * det))) / 2);
}

export type Pixels = Uint8Array | Uint16Array | Uint32Array;

/** Section pixels (row-major, x fastest): f at A(i + ½, j + ½), rounded and clamped. */
export function renderSection(
  f: (X: number, Y: number) => number,
  m: Affine2,
  width: number,
  height: number,
  dtype: "uint8" | "uint16" | "uint32",
): Pixels {
  const n = width * height;
  const out =
    dtype === "uint8"
      ? new Uint8Array(n)
      : dtype === "uint16"
        ? new Uint16Array(n)
        : new Uint32Array(n);
  const hi = dtype === "uint8" ? 255 : dtype === "uint16" ? 65535 : 4294967295;
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const u = i + 0.5;
      const v = j + 0.5;
      const X = m[0] * u + m[2] * v + m[4];
      const Y = m[1] * u + m[3] * v + m[5];
      out[j * width + i] = Math.min(hi, Math.max(0, Math.round(f(X, Y))));
    }
  }
  return out;
}

/** 8- or 16-bit greyscale PNG through sharp. */
export async function writePng(
  path: string,
  px: Pixels,
  width: number,
  height: number,
): Promise<void> {
  await sharp(px, { raw: { width, height, channels: 1 } })
    .toColourspace(px instanceof Uint8Array ? "b-w" : "grey16")
    .png({ compressionLevel: 1 })
    .toFile(path);
}

/**
 * Saves pixels as .npy (x, y, 1, 1) Fortran order for test/aligned/write_h5.py, which writes the
 * HDF5 file with h5py: dataset "img" of shape [height, width].
 */
export async function writeSectionNpy(
  path: string,
  px: Pixels,
  width: number,
  height: number,
): Promise<void> {
  const dtype =
    px instanceof Uint8Array ? "uint8" : px instanceof Uint16Array ? "uint16" : "uint32";
  await writeNpy(path, { dtype, shape: [width, height, 1, 1], data: px });
}

export async function writeText(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}
