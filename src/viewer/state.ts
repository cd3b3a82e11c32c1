/**
 * Neuroglancer viewer state for `voxport view`, built from each dataset's `info`. Pure: no I/O
 * (the contrast window is computed by the caller from sampled voxels, see `percentileWindow`).
 *
 * - Global dimensions x, y, z in metres, from the first layer's scale-0 resolution (nm), so one
 *   unit of the position is one full-resolution voxel of that layer.
 * - Position: the centre of the first layer's scale-0 bounds (voxel_offset + size / 2; voxel v
 *   covers [v, v+1) in Neuroglancer's coordinates).
 * - Zoom: the cross-sections fit the first layer's x–y extent in about 450×320 screen pixels
 *   (a panel of the default 4-panel layout in a laptop-sized window), the 3-D view its largest
 *   extent with some margin.
 *   Neuroglancer's zoom unit is the "canonical voxel", the smallest of the three voxel sizes.
 * - Layer type from `info.type`: `image` or `segmentation`.
 * - Image contrast: uint8 uses Neuroglancer's default (the full 0–255 range). Any other data type
 *   (uint16, uint32, float32, …) gets the `invlerp` range [p1, p99] of a sample of its voxels
 *   (the 1st and 99th percentiles of the non-zero voxels of a few chunks of the coarsest scale;
 *   zeros are left out because they are mostly padding or missing chunks). Without it a uint16
 *   volume shows black: Neuroglancer's default range is the full 0–65535.
 * - Three-channel images are shown as RGB.
 * - Names: the dataset folder's last path segment, made unique.
 * - URL: `<viewer base>#!` + encodeURIComponent(JSON).
 */
import type { PrecomputedInfo } from "../precomputed/types.js";

export interface LayerInput {
  /** The dataset as the user gave it (path or URL); used for the layer name. */
  location: string;
  /** Neuroglancer source URL, e.g. `precomputed://http://127.0.0.1:8000/data/0`. */
  source: string;
  info: PrecomputedInfo;
  /** Contrast range for image layers (see the header); omitted: Neuroglancer's default. */
  window?: [number, number];
}

export interface StateOptions {
  /** Neuroglancer layout: "4panel" (default), "xy", "xz", "yz", "3d", "xy-3d", … */
  layout?: string;
}

/** The subset of Neuroglancer's JSON state that voxport writes. */
export interface NeuroglancerState {
  /** Omitted only when no dataset's info is known (Neuroglancer then picks them itself). */
  dimensions?: Record<string, [number, string]>;
  position?: number[];
  crossSectionScale?: number;
  projectionScale?: number;
  layers: NeuroglancerLayer[];
  selectedLayer?: { layer: string; visible: boolean };
  layout: string;
  [key: string]: unknown;
}

export interface NeuroglancerLayer {
  type: "image" | "segmentation";
  source: string;
  name: string;
  tab?: string;
  shader?: string;
  shaderControls?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Screen pixels (width, height) the x–y extent of the first layer is fitted into. */
const FIT_PIXELS = [450, 320];

const DEFAULT_SHADER =
  "#uicontrol invlerp normalized\nvoid main() {\n  emitGrayscale(normalized());\n}\n";

const RGB_SHADER =
  "#uicontrol invlerp normalized\n" +
  "void main() {\n" +
  "  emitRGB(vec3(normalized(getDataValue(0)), normalized(getDataValue(1)), normalized(getDataValue(2))));\n" +
  "}\n";

/** Neuroglancer state showing `layers` (at least one), centred on the first. */
export function buildViewerState(
  layers: LayerInput[],
  options: StateOptions = {},
): NeuroglancerState {
  if (layers.length === 0) throw new Error("buildViewerState: no layers");
  const first = layers[0].info.scales[0];
  const offset = first.voxel_offset ?? [0, 0, 0];
  const canonical = Math.min(...first.resolution);
  const names = uniqueNames(layers.map((l) => layerName(l.location)));
  return {
    dimensions: {
      x: [first.resolution[0] / 1e9, "m"],
      y: [first.resolution[1] / 1e9, "m"],
      z: [first.resolution[2] / 1e9, "m"],
    },
    position: [0, 1, 2].map((d) => offset[d] + first.size[d] / 2),
    crossSectionScale: roundSignificant(
      Math.max(
        (first.size[0] * first.resolution[0]) / FIT_PIXELS[0],
        (first.size[1] * first.resolution[1]) / FIT_PIXELS[1],
      ) / canonical,
    ),
    projectionScale: roundSignificant(
      (1.5 * Math.max(...[0, 1, 2].map((d) => first.size[d] * first.resolution[d]))) / canonical,
    ),
    layers: layers.map((l, i) => buildLayer(l, names[i])),
    layout: options.layout ?? "4panel",
  };
}

function roundSignificant(x: number): number {
  return Number(x.toPrecision(3));
}

function buildLayer(layer: LayerInput, name: string): NeuroglancerLayer {
  const { info } = layer;
  if (info.type === "segmentation") {
    return { type: "segmentation", source: layer.source, name, tab: "source" };
  }
  const out: NeuroglancerLayer = { type: "image", source: layer.source, name, tab: "rendering" };
  if (info.num_channels === 3) out.shader = RGB_SHADER;
  else if (layer.window !== undefined) out.shader = DEFAULT_SHADER;
  if (layer.window !== undefined) {
    out.shaderControls = { normalized: { range: [layer.window[0], layer.window[1]] } };
  }
  return out;
}

/** `base` (the viewer's address, e.g. `http://127.0.0.1:8000/`) with the state in the fragment. */
export function stateUrl(base: string, state: NeuroglancerState): string {
  return `${base}#!${encodeURIComponent(JSON.stringify(state))}`;
}

/** Data types for which the viewer wants a contrast window (see the header). */
export function needsWindow(info: PrecomputedInfo): boolean {
  return info.type === "image" && info.data_type !== "uint8";
}

/**
 * [p_low, p_high] percentiles (default 1st and 99th) of the non-zero values (all values when
 * fewer than 1% are non-zero); `undefined` for an empty sample. The upper bound is raised above
 * the lower one when they coincide (a constant volume).
 */
export function percentileWindow(
  values: ArrayLike<number | bigint>,
  low = 0.01,
  high = 0.99,
): [number, number] | undefined {
  const all: number[] = [];
  const nonzero: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isFinite(v)) continue;
    all.push(v);
    if (v !== 0) nonzero.push(v);
  }
  const sample = nonzero.length >= all.length * 0.01 && nonzero.length > 0 ? nonzero : all;
  if (sample.length === 0) return undefined;
  sample.sort((a, b) => a - b);
  const at = (q: number) => sample[Math.min(sample.length - 1, Math.floor(q * sample.length))];
  const lo = at(low);
  let hi = at(high);
  if (hi <= lo) hi = lo + (Number.isInteger(lo) ? 1 : Math.max(Math.abs(lo) * 1e-3, 1e-6));
  return [lo, hi];
}

/** Last path segment of a dataset location (`/data/em/` → `em`, `gs://b/x/seg` → `seg`). */
export function layerName(location: string): string {
  const path = location.replace(/[?#].*$/, "").replace(/\/+$/, "");
  const name = path.slice(path.lastIndexOf("/") + 1);
  return name === "" || /^[a-z][a-z0-9+.-]*:$/i.test(name) ? "layer" : name;
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n}-${k}`;
  });
}

const REMOTE = /^(https?|gs|s3):\/\//i;

/** Whether the browser should read `location` itself rather than through the local server. */
export function isRemote(location: string): boolean {
  return REMOTE.test(location);
}

/**
 * Neuroglancer source URL of a remote dataset, read by the browser directly:
 * - `http(s)://host/path` → `precomputed://http(s)://host/path`;
 * - `gs://bucket/path` → `precomputed://gs://bucket/path` (Neuroglancer reads public buckets
 *   through the GCS JSON API);
 * - `s3://bucket/path` → `precomputed://https://bucket.s3.amazonaws.com/path` (anonymous,
 *   public-read buckets only; a bucket name with dots would not match the TLS certificate in
 *   that form, so it becomes `https://s3.amazonaws.com/bucket/path`).
 */
export function remoteSource(location: string): string {
  return `precomputed://${remoteHttpUrl(location, { keepGs: true })}`;
}

/** The plain http(s) URL where a remote dataset is read anonymously (used to check `info`). */
export function remoteHttpUrl(location: string, options: { keepGs?: boolean } = {}): string {
  const trimmed = location.replace(/\/+$/, "");
  const m = /^([a-z0-9+.-]+):\/\/([^/]*)(\/.*)?$/i.exec(trimmed);
  if (m === null) throw new Error(`not a URL: ${location}`);
  const scheme = m[1].toLowerCase();
  const bucket = m[2];
  const path = m[3] ?? "";
  if (scheme === "http" || scheme === "https") return trimmed;
  if (scheme === "gs") {
    return options.keepGs ? trimmed : `https://storage.googleapis.com/${bucket}${path}`;
  }
  if (scheme === "s3") {
    return bucket.includes(".")
      ? `https://s3.amazonaws.com/${bucket}${path}`
      : `https://${bucket}.s3.amazonaws.com${path}`;
  }
  throw new Error(`not a remote URL: ${location}`);
}
