/**
 * `--contrast MIN,MAX|auto`: 16-bit, 32-bit and float data mapped to uint8 for viewing and
 * JPEG encoding. Voxel v becomes round(255 · (v − MIN) / (MAX − MIN)), clamped to 0..255
 * (NaN → 0). MIN may exceed MAX, which inverts the ramp.
 *
 * `auto` is resolved once, when the ingest is prepared, from a sample of the source (below);
 * the job stores the two numbers, so every worker maps voxels identically.
 *
 * The sample (`sampleContrastWindow`): up to SAMPLE_PLANES sections evenly spread in z; in each,
 * SAMPLE_BANDS bands of up to SAMPLE_BAND_ROWS rows evenly spread in y, across the full width
 * (at most SAMPLE_MAX_WIDTH columns, centred); every k-th voxel of them, k chosen so that at most
 * SAMPLE_MAX_VOXELS values are kept. Channel 0 only. The window is the
 * [AUTO_LOW, AUTO_HIGH] = [0.5 %, 99.5 %] percentiles of the non-zero sampled values (of all of
 * them when fewer than 1 % are non-zero: zeros are mostly padding and missing sections).
 */
import { resolve } from "node:path";
import { VoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { percentileWindow } from "../viewer/state.js";
import type { VolumeSource } from "./source.js";
import type { SourceSpec } from "./spec.js";

export const AUTO_LOW = 0.005;
export const AUTO_HIGH = 0.995;
export const SAMPLE_PLANES = 16;
export const SAMPLE_BANDS = 4;
export const SAMPLE_BAND_ROWS = 64;
export const SAMPLE_MAX_WIDTH = 16384;
export const SAMPLE_MAX_VOXELS = 4 * 1024 * 1024;

export class ContrastSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType = "uint8";
  readonly channels: number;
  readonly resolution?: Vec3;

  constructor(
    readonly inner: VolumeSource,
    readonly window: [number, number],
  ) {
    const [lo, hi] = window;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo === hi) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `${inner.description}: contrast window ${lo},${hi} must be two different finite numbers`,
      );
    }
    this.description = `${inner.description} (contrast ${lo},${hi} → uint8)`;
    this.size = inner.size;
    this.channels = inner.channels;
    this.resolution = inner.resolution;
  }

  /** Extra fields a wrapped source carries (the NIfTI voxel offset) stay visible. */
  get voxelOffset(): Vec3 | undefined {
    return (this.inner as { voxelOffset?: Vec3 }).voxelOffset;
  }

  async read(box: Box, options?: { signal?: AbortSignal }): Promise<Block> {
    const src = await this.inner.read(box, options);
    const out = makeBlock("uint8", src.shape);
    applyWindow(src.data, out.data as Uint8Array, this.window);
    return out;
  }
}

/** out[i] = round(255 (v − lo) / (hi − lo)) clamped to 0..255; NaN → 0. */
export function applyWindow(
  values: ArrayLike<number | bigint>,
  out: Uint8Array,
  window: [number, number],
): void {
  const [lo, hi] = window;
  const range = hi - lo;
  const n = out.length;
  if (typeof values[0] === "bigint") {
    for (let i = 0; i < n; i++) out[i] = map(Number(values[i]), lo, range);
    return;
  }
  const v = values as ArrayLike<number>;
  for (let i = 0; i < n; i++) out[i] = map(v[i], lo, range);
}

function map(v: number, lo: number, range: number): number {
  // Multiply before dividing: (150 − 100)·255/100 is exactly 127.5 (→ 128), 50·(255/100) is not.
  const t = Math.round(((v - lo) * 255) / range);
  // Uint8Array assignment would wrap; clamp first. NaN compares false both ways → 0.
  return t > 255 ? 255 : t >= 0 ? t : 0;
}

/** Parses `--contrast`: "auto" or "MIN,MAX". */
export function parseContrast(text: string): "auto" | [number, number] {
  if (text === "auto") return "auto";
  const parts = text.split(",").map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length !== 2 || parts.some((p) => p === "") || nums.some((n) => !Number.isFinite(n))) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--contrast "${text}": expected auto or MIN,MAX (two numbers, e.g. 200,3500)`,
    );
  }
  if (nums[0] === nums[1]) {
    throw new VoxportError("INVALID_ARGUMENT", `--contrast "${text}": MIN and MAX are equal`);
  }
  return [nums[0], nums[1]];
}

/** The auto window of `source` (see the file comment). */
export async function sampleContrastWindow(
  source: VolumeSource,
  options: { signal?: AbortSignal } = {},
): Promise<[number, number]> {
  const [w, h, d] = source.size;
  const planes = Math.min(SAMPLE_PLANES, d);
  const bands = Math.min(SAMPLE_BANDS, h);
  const bandRows = Math.max(1, Math.min(SAMPLE_BAND_ROWS, Math.floor(h / bands)));
  const width = Math.min(w, SAMPLE_MAX_WIDTH);
  const x0 = Math.floor((w - width) / 2);
  const total = planes * bands * bandRows * width;
  const stride = Math.max(1, Math.ceil(total / SAMPLE_MAX_VOXELS));
  const kept: number[] = [];
  let k = 0;
  for (let p = 0; p < planes; p++) {
    const z = Math.floor(((p + 0.5) * d) / planes);
    for (let b = 0; b < bands; b++) {
      const y = Math.min(h - bandRows, Math.floor(((b + 0.5) * h) / bands - bandRows / 2));
      const y0 = Math.max(0, y);
      const block = await source.read(
        { min: [x0, y0, z], max: [x0 + width, y0 + bandRows, z + 1] },
        options,
      );
      const n = width * bandRows; // channel 0
      const data = block.data;
      for (let i = 0; i < n; i++, k++) {
        if (k % stride === 0) kept.push(Number(data[i]));
      }
    }
  }
  const win = percentileWindow(kept, AUTO_LOW, AUTO_HIGH);
  if (win === undefined) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${source.description}: --contrast auto found no finite values in its sample; give MIN,MAX`,
    );
  }
  return win;
}

/** The spec and source of `inner` seen through `contrast` (auto resolved from a sample). */
export async function withContrast(
  spec: SourceSpec,
  inner: VolumeSource,
  contrast: "auto" | [number, number],
  type: "image" | "segmentation",
): Promise<{ spec: SourceSpec; source: VolumeSource }> {
  if (type === "segmentation") {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      "--contrast applies to images; segmentation labels must keep their values",
    );
  }
  const window = contrast === "auto" ? await sampleContrastWindow(inner) : contrast;
  // The nested spec keeps its own `input`, which `--queue` does not rewrite: make it absolute
  // here so that a worker on another machine opens the same file.
  const abs = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : resolve(p));
  const nested = { ...spec, input: abs(spec.input) } as SourceSpec;
  return {
    spec: { kind: "contrast", input: nested.input, source: nested, window },
    source: new ContrastSource(inner, window),
  };
}
