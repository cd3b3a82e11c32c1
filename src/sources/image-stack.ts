/**
 * A folder (or glob, or printf pattern) of 2-D image slices as a 3-D volume: x, y from the image,
 * z = slice order. See slice-list.ts for how inputs are resolved and ordered and decode.ts for
 * how pixels are decoded (data types, alpha, ICC, EXIF orientation).
 *
 * Volume: size [width, height, slices]; dtype uint8 (8-bit), uint16 (16-bit), uint32 / float32
 * (32-bit single-channel TIFF); channels 1 (greyscale) or 3 (RGB, planar in blocks). Alpha is
 * dropped. No resolution: image files do not carry a trustworthy voxel size.
 *
 * Memory: `open` reads headers only. `read(box)` decodes just the slices with z in the box, each
 * cropped to the box's xy footprint, at most READ_CONCURRENCY at a time, so memory is the output
 * block plus a few slice regions, never the whole stack. Note that PNG and JPEG are sequential
 * formats: cropping saves memory, not decode time (rows above the crop are still inflated), so
 * callers should prefer boxes spanning whole rows of slices for these formats.
 */
import { VoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type Vec3 } from "../ops/array.js";
import { type Box, boxToString } from "../ops/bbox.js";
import { throwIfAborted } from "../storage/abort.js";
import { mapLimit } from "./concurrency.js";
import {
  decodeSliceRegion,
  probeSlice,
  type SliceHeader,
  type SliceKind,
  sliceKind,
} from "./decode.js";
import { listSlices, type SliceFile } from "./slice-list.js";
import type { VolumeSource } from "./source.js";

/** Headers read at once while opening. */
export const OPEN_CONCURRENCY = 16;
/** Slices decoded at once by one `read`. */
export const READ_CONCURRENCY = 4;

export interface ImageStackOptions {
  /** Regular expression on file names; z = named group `z` or the only capture group. */
  zRegex?: string;
  /** Glob or printf file-name pattern applied inside the folder `input`. */
  pattern?: string;
  /**
   * URL inputs only: regular expression on object names relative to the URL, anchored at the
   * start (Python's re.match, as the HBP fetch_input); selects slices among all objects under it.
   */
  filter?: string;
  signal?: AbortSignal;
}

/** Where the bytes of slices come from when they are not local files (remote-stack.ts). */
export interface SliceLoader {
  /** The whole encoded file (PNG/TIFF/JPEG bytes) of one slice. */
  load(slice: SliceFile, signal?: AbortSignal): Promise<Buffer>;
}

export class ImageStackSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels: number;
  /** Always undefined: image files carry no trustworthy voxel size (DPI is not nm). */
  readonly resolution?: Vec3;
  /** Slice files in z order: slice k is z = k. */
  readonly slices: readonly SliceFile[];
  /** Decoding settings shared by every slice. */
  readonly kind: SliceKind;
  /** Header of the first slice (format, colourspace as stored). */
  readonly firstHeader: SliceHeader;

  /** Set for remote stacks: slices are fetched through it instead of read from disk. */
  readonly loader?: SliceLoader;

  constructor(
    description: string,
    slices: readonly SliceFile[],
    first: SliceHeader,
    kind: SliceKind,
    loader?: SliceLoader,
  ) {
    this.description = description;
    this.loader = loader;
    this.slices = slices;
    this.firstHeader = first;
    this.kind = kind;
    this.size = [first.width, first.height, slices.length];
    this.dtype = kind.dtype;
    this.channels = kind.channels;
  }

  async read(box: Box, options: { signal?: AbortSignal } = {}): Promise<Block> {
    const { signal } = options;
    for (let d = 0; d < 3; d++) {
      if (
        !Number.isSafeInteger(box.min[d]) ||
        !Number.isSafeInteger(box.max[d]) ||
        box.max[d] < box.min[d]
      ) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `${this.description}: bad read box ${boxToString(box)}`,
        );
      }
    }
    throwIfAborted(signal, `${this.description}: read ${boxToString(box)}`);
    const sx = box.max[0] - box.min[0];
    const sy = box.max[1] - box.min[1];
    const sz = box.max[2] - box.min[2];
    const nc = this.channels;
    const block = makeBlock(this.dtype, [sx, sy, sz, nc]);
    const x0 = Math.max(0, box.min[0]);
    const x1 = Math.min(this.size[0], box.max[0]);
    const y0 = Math.max(0, box.min[1]);
    const y1 = Math.min(this.size[1], box.max[1]);
    const z0 = Math.max(0, box.min[2]);
    const z1 = Math.min(this.size[2], box.max[2]);
    if (x1 <= x0 || y1 <= y0 || z1 <= z0) return block;

    const region = { left: x0, top: y0, width: x1 - x0, height: y1 - y0 };
    const full = { width: this.size[0], height: this.size[1] };
    const zs: number[] = [];
    for (let z = z0; z < z1; z++) zs.push(z);
    const dst = block.data;
    const w = region.width;
    const planeStride = sx * sy * sz;
    await mapLimit(
      zs,
      READ_CONCURRENCY,
      async (z) => {
        const slice = this.slices[z];
        const encoded = this.loader ? await this.loader.load(slice, signal) : undefined;
        const pixels = await decodeSliceRegion(slice.path, this.kind, full, region, encoded);
        // Scatter interleaved pixels into the planar Fortran-order block. Only uint8/16/32 and
        // float32 arrive here (never uint64), so the number-array casts are sound.
        const src = pixels as Uint32Array;
        const out = dst as Uint32Array;
        const zBase = (z - box.min[2]) * sx * sy + (x0 - box.min[0]);
        if (nc === 1 && w === sx) {
          out.set(src, zBase + (y0 - box.min[1]) * sx); // rows are contiguous: one copy
          return;
        }
        for (let y = 0; y < region.height; y++) {
          const rowDst = zBase + (y + y0 - box.min[1]) * sx;
          const rowSrc = y * w * nc;
          if (nc === 1) {
            out.set(src.subarray(rowSrc, rowSrc + w), rowDst);
          } else {
            for (let c = 0; c < nc; c++) {
              const o = rowDst + c * planeStride;
              for (let x = 0, s = rowSrc + c; x < w; x++, s += nc) out[o + x] = src[s];
            }
          }
        }
      },
      { signal, what: `${this.description}: read ${boxToString(box)}` },
    );
    return block;
  }
}

/**
 * Resolve the slice list, read every slice header (OPEN_CONCURRENCY at a time) and check that
 * all slices agree on width, height, channels and data type. Errors are VoxportErrors:
 * INVALID_SOURCE (nothing found, gaps, duplicates, inconsistent or truncated files),
 * UNSUPPORTED (CMYK, signed, multi-page), INVALID_ARGUMENT (bad pattern or zRegex), NOT_FOUND.
 */
export async function openImageStack(
  input: string,
  opts: ImageStackOptions = {},
): Promise<ImageStackSource> {
  const { signal } = opts;
  throwIfAborted(signal, `open ${input}`);
  // `scheme://…` (s3, gs, swift, http(s), file, mem): listed and read through a KvStore.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    const { openRemoteImageStack } = await import("./remote-stack.js");
    return openRemoteImageStack(input, opts);
  }
  if (opts.filter !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `image stack ${input}: a filter regex applies to URL inputs; for a local folder use a glob or printf pattern`,
    );
  }
  const list = await listSlices(input, { zRegex: opts.zRegex, pattern: opts.pattern });
  const headers = await mapLimit(list.files, OPEN_CONCURRENCY, (f) => probeSlice(f.path), {
    signal,
    what: `open ${list.description}`,
  });
  return stackFromHeaders(list.description, list.files, headers);
}

/** Checks that all slices agree on size, channels and data type; builds the source. */
export function stackFromHeaders(
  description: string,
  files: readonly SliceFile[],
  headers: readonly SliceHeader[],
  loader?: SliceLoader,
): ImageStackSource {
  const first = headers[0];
  const kind = sliceKind(first);
  for (let i = 1; i < headers.length; i++) {
    const h = headers[i];
    const k = sliceKind(h);
    const diffs: string[] = [];
    if (h.width !== first.width || h.height !== first.height) {
      diffs.push(`size ${h.width}x${h.height} vs ${first.width}x${first.height}`);
    }
    if (k.channels !== kind.channels) diffs.push(`${k.channels} channel(s) vs ${kind.channels}`);
    if (k.dtype !== kind.dtype) diffs.push(`data type ${k.dtype} vs ${kind.dtype}`);
    if (diffs.length > 0) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${h.path}: differs from the first slice ${first.path}: ${diffs.join(", ")}`,
      );
    }
  }
  return new ImageStackSource(description, files, first, kind, loader);
}
