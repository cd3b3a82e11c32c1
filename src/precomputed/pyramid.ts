/**
 * Pyramid metadata: which factor each level uses and the `scales[]` entries that result
 * (../shared/docs/precomputed-format.md §5.2, §5.3). Pure functions; no data moves here.
 */

import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import type { Encoding, ScaleInfo } from "./types.js";

/**
 * A resolution in its shortest form, without a trailing `.0` (4 → "4", 4.5 → "4.5"), as §5.3
 * recommends; `[8, 8, 40]` keys as "8_8_40" whether the JSON said 8 or 8.0.
 */
export function formatResolution(n: number): string {
  return String(n);
}

export function scaleKey(resolution: Vec3): string {
  return resolution.map(formatResolution).join("_");
}

/**
 * res × factor, rounded to 15 significant digits so that e.g. 4.1 × 3 keys as "12.3" rather
 * than "12.299999999999999". Doubling is exact in binary and is left alone.
 */
function scaleResolution(res: number, factor: number): number {
  return factor === 1 ? res : Number((res * factor).toPrecision(15));
}

/**
 * Next factor toward isotropic voxels (igneous `compute_near_isotropic_downsampling_scales`,
 * §5.2): the target is twice the smallest voxel size, and an axis is doubled when doubling
 * brings it closer to the target (strictly). The smallest axes therefore always double; an
 * axis that doubling would overshoot by more than it now falls short stays.
 *
 *   4,4,40 → [2,2,1] while xy is 4, 8, 16; at 32,32,40 doubling z (80) is nearer the target 64
 *   than 40 is, so from there on [2,2,2].   8,8,8 → [2,2,2].
 *
 * An axis whose `size` is already 1 voxel is not downsampled further and does not take part in
 * choosing the target. Returns [1,1,1] when no axis can be downsampled.
 */
export function chooseFactor(resolution: Vec3, size?: Vec3): Vec3 {
  const axes = [0, 1, 2].filter((d) => size === undefined || size[d] > 1);
  if (axes.length === 0) return [1, 1, 1];
  const target = 2 * Math.min(...axes.map((d) => resolution[d]));
  const f: Vec3 = [1, 1, 1];
  for (const d of axes) {
    const r = resolution[d];
    if (Math.abs(2 * r - target) < Math.abs(r - target)) f[d] = 2;
  }
  return f;
}

/**
 * Extent of a level downsampled by cumulative factor F from base offset O and size S:
 * `offset = floor(O/F)`, `size = ceil((O+S)/F) − floor(O/F)`. Every base voxel stays covered
 * (§5.3 pitfall). This equals CloudVolume's `ceil(S/F)` whenever O is a multiple of F; for
 * other offsets CV can drop the last base voxel, this rule keeps it (one voxel larger).
 */
export function downsampleExtent(
  offset: Vec3,
  size: Vec3,
  factor: Vec3,
): { voxelOffset: Vec3; size: Vec3 } {
  const lo: Vec3 = [0, 0, 0];
  const n: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    lo[d] = Math.floor(offset[d] / factor[d]);
    n[d] = Math.ceil((offset[d] + size[d]) / factor[d]) - lo[d];
  }
  return { voxelOffset: lo, size: n };
}

export interface BaseScale {
  size: Vec3;
  /** Default [0,0,0]. */
  voxelOffset?: Vec3;
  /** nm per voxel at the base (finest) level. */
  resolution: Vec3;
  /** Used unchanged at every level (igneous `preserve_chunk_size`, the default). */
  chunkSize: Vec3;
  encoding: Encoding;
  /** compressed_segmentation only; default [8,8,8]. */
  compressedSegmentationBlockSize?: Vec3;
  jpegQuality?: number;
  pngLevel?: number;
}

export interface PyramidOptions {
  /**
   * "auto" (default): `chooseFactor` per level. A Vec3: that factor at every level. A Vec3[]:
   * exactly these per-level factors (entry i makes level i+1), subject only to `maxScales`.
   */
  factors?: "auto" | Vec3 | Vec3[];
  /** Total number of scales including the base. */
  maxScales?: number;
}

/** Upper bound when the caller gives none: a 2× pyramid of 2^53 voxels is shorter than this. */
const SAFETY_MAX_SCALES = 64;

function checkFactor(f: Vec3, what: string): void {
  if (f.length !== 3 || !f.every((x) => Number.isInteger(x) && x >= 1)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${what} must be three positive integers (got ${JSON.stringify(f)})`,
    );
  }
}

/**
 * The `scales[]` of a pyramid: level 0 is `base`; level s has cumulative factor F (product of
 * the per-level factors), resolution res0·F, the extent from `downsampleExtent`, the base chunk
 * size, and key `scaleKey(resolution)`. Sharding is not set: its parameters depend on each
 * level's grid and are chosen by the sharding code.
 *
 * With "auto" or a fixed factor, levels stop once the current level fits in one chunk along
 * every axis the next factor would downsample (like igneous, which stops at about one chunk);
 * a fixed factor drops axes already 1 voxel thick. `maxScales` caps every mode.
 */
export function buildScales(base: BaseScale, opts: PyramidOptions = {}): ScaleInfo[] {
  const factors = opts.factors ?? "auto";
  const maxScales = opts.maxScales ?? SAFETY_MAX_SCALES;
  if (!Number.isInteger(maxScales) || maxScales < 1) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `maxScales must be an integer >= 1 (got ${maxScales})`,
    );
  }
  const explicit = Array.isArray(factors) && (factors.length === 0 || Array.isArray(factors[0]));
  if (explicit) {
    for (const [i, f] of (factors as Vec3[]).entries()) checkFactor(f, `factors[${i}]`);
  } else if (factors !== "auto") checkFactor(factors as Vec3, "factor");

  const offset0 = base.voxelOffset ?? [0, 0, 0];
  const make = (F: Vec3): ScaleInfo => {
    const resolution: Vec3 = [0, 1, 2].map((d) =>
      scaleResolution(base.resolution[d], F[d]),
    ) as Vec3;
    const ext = downsampleExtent(offset0, base.size, F);
    const s: ScaleInfo = {
      key: scaleKey(resolution),
      size: ext.size,
      voxel_offset: ext.voxelOffset,
      resolution,
      chunk_sizes: [[...base.chunkSize]],
      encoding: base.encoding,
    };
    if (base.encoding === "compressed_segmentation") {
      s.compressed_segmentation_block_size = [
        ...(base.compressedSegmentationBlockSize ?? [8, 8, 8]),
      ];
    }
    if (base.jpegQuality !== undefined) s.jpeg_quality = base.jpegQuality;
    if (base.pngLevel !== undefined) s.png_level = base.pngLevel;
    return s;
  };

  const F: Vec3 = [1, 1, 1];
  const scales = [make(F)];
  while (scales.length < maxScales) {
    const prev = scales[scales.length - 1];
    let f: Vec3;
    if (explicit) {
      const list = factors as Vec3[];
      if (scales.length > list.length) break;
      f = list[scales.length - 1];
    } else {
      f =
        factors === "auto"
          ? chooseFactor(prev.resolution, prev.size)
          : ((factors as Vec3).map((x, d) => (prev.size[d] > 1 ? x : 1)) as Vec3);
      const down = [0, 1, 2].filter((d) => f[d] > 1);
      if (down.length === 0) break;
      if (down.every((d) => prev.size[d] <= base.chunkSize[d])) break;
    }
    for (let d = 0; d < 3; d++) F[d] *= f[d];
    scales.push(make(F));
  }
  return scales;
}

/**
 * Integer per-axis factor from scale i-1 to scale i, from their resolutions. Throws when a ratio
 * is not a whole number ≥ 1, which the downsampler cannot produce.
 */
export function levelFactor(scales: readonly ScaleInfo[], i: number): Vec3 {
  if (!Number.isInteger(i) || i < 1 || i >= scales.length) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `levelFactor needs 1 <= i < ${scales.length} (got ${i})`,
    );
  }
  const f: Vec3 = [1, 1, 1];
  for (let d = 0; d < 3; d++) {
    const ratio = scales[i].resolution[d] / scales[i - 1].resolution[d];
    const r = Math.round(ratio);
    if (r < 1 || Math.abs(ratio - r) > 1e-9 * ratio) {
      throw new VoxportError(
        "INVALID_INFO",
        `scales[${i}].resolution[${d}] / scales[${i - 1}].resolution[${d}] = ${ratio} is not a whole number >= 1`,
      );
    }
    f[d] = r;
  }
  return f;
}
