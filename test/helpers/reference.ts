import type { Vec3 } from "../../src/ops/array.js";

/**
 * A deliberately naive reference for checking pyramids: plain number arrays and per-voxel loops,
 * sharing no code with src/ops/downsample.ts. Rules (the documented voxport rules):
 *  - output voxel v covers input voxels [v*f, (v+1)*f) in absolute coordinates, clipped to the
 *    input's extent;
 *  - average: mean of the voxels present, rounded half up;
 *  - mode: the most frequent value, ties broken by the smallest value.
 */
export interface RefVolume {
  origin: Vec3;
  shape: Vec3;
  channels: number;
  /** index x + sx*(y + sy*(z + sz*c)) */
  data: number[];
}

export function refFromFunction(
  origin: Vec3,
  shape: Vec3,
  channels: number,
  fn: (x: number, y: number, z: number, c: number) => number,
): RefVolume {
  const data: number[] = new Array(shape[0] * shape[1] * shape[2] * channels);
  let i = 0;
  for (let c = 0; c < channels; c++)
    for (let z = 0; z < shape[2]; z++)
      for (let y = 0; y < shape[1]; y++)
        for (let x = 0; x < shape[0]; x++) data[i++] = fn(x, y, z, c);
  return { origin, shape, channels, data };
}

export function refDownsample(v: RefVolume, f: Vec3, method: "average" | "mode"): RefVolume {
  const lo = [0, 1, 2].map((d) => Math.floor(v.origin[d] / f[d])) as Vec3;
  const hi = [0, 1, 2].map((d) => Math.ceil((v.origin[d] + v.shape[d]) / f[d])) as Vec3;
  const shape = [0, 1, 2].map((d) => hi[d] - lo[d]) as Vec3;
  const out: number[] = [];
  for (let c = 0; c < v.channels; c++)
    for (let oz = lo[2]; oz < hi[2]; oz++)
      for (let oy = lo[1]; oy < hi[1]; oy++)
        for (let ox = lo[0]; ox < hi[0]; ox++) {
          const values: number[] = [];
          for (let z = oz * f[2]; z < (oz + 1) * f[2]; z++)
            for (let y = oy * f[1]; y < (oy + 1) * f[1]; y++)
              for (let x = ox * f[0]; x < (ox + 1) * f[0]; x++) {
                const rx = x - v.origin[0];
                const ry = y - v.origin[1];
                const rz = z - v.origin[2];
                if (
                  rx < 0 ||
                  ry < 0 ||
                  rz < 0 ||
                  rx >= v.shape[0] ||
                  ry >= v.shape[1] ||
                  rz >= v.shape[2]
                )
                  continue;
                values.push(v.data[rx + v.shape[0] * (ry + v.shape[1] * (rz + v.shape[2] * c))]);
              }
          out.push(method === "average" ? roundHalfUp(values) : mode(values));
        }
  return { origin: lo, shape, channels: v.channels, data: out };
}

function roundHalfUp(values: number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return Math.floor(sum / values.length + 0.5);
}

function mode(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = Number.POSITIVE_INFINITY;
  let bestCount = -1;
  for (const [v, n] of counts) {
    if (n > bestCount || (n === bestCount && v < best)) {
      best = v;
      bestCount = n;
    }
  }
  return best;
}
