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
import type { Block, DataType, Vec3 } from "../ops/array.js";
import { type Box, boxToString } from "../ops/bbox.js";
import { throwIfAborted } from "../storage/abort.js";
import { mapLimit } from "./concurrency.js";
import {
  decodeSliceRegion,
  probeSlice,
  type Region,
  type SliceHeader,
  type SliceKind,
  sliceKind,
} from "./decode.js";
import { listSlices, type SliceFile } from "./slice-list.js";
import { startRead, type VolumeSource } from "./source.js";

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
  /** Missing z numbers (and missing tiles) read as zeros instead of failing the open. */
  allowGaps?: boolean;
  signal?: AbortSignal;
}

/** Where the bytes of slices come from when they are not local files (remote-stack.ts). */
export interface SliceLoader {
  /** The whole encoded file (PNG/TIFF/JPEG bytes) of one slice. */
  load(slice: SliceFile, signal?: AbortSignal): Promise<Buffer>;
}

/** One image file of a section, placed at (left, top) of the section. */
export interface Tile {
  file: SliceFile;
  left: number;
  top: number;
  width: number;
  height: number;
}

export class ImageStackSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels: number;
  /** Always undefined: image files carry no trustworthy voxel size (DPI is not nm). */
  readonly resolution?: Vec3;
  /** Slice (or tile) files in z order. */
  readonly slices: readonly SliceFile[];
  /** Section z of the volume: its tiles (one for plain slices), or undefined for a gap (zeros). */
  readonly sections: readonly (readonly Tile[] | undefined)[];
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
    layout?: { sections: (Tile[] | undefined)[]; width: number; height: number },
  ) {
    this.description = description;
    this.loader = loader;
    this.slices = slices;
    this.firstHeader = first;
    this.kind = kind;
    const sections =
      layout?.sections ??
      slices.map((file) => [{ file, left: 0, top: 0, width: first.width, height: first.height }]);
    this.sections = sections;
    this.size = [layout?.width ?? first.width, layout?.height ?? first.height, sections.length];
    this.dtype = kind.dtype;
    this.channels = kind.channels;
  }

  async read(box: Box, options: { signal?: AbortSignal } = {}): Promise<Block> {
    const { signal } = options;
    const {
      block,
      size: [sx, sy, sz],
    } = startRead(this, box, signal);
    const nc = this.channels;
    const z0 = Math.max(0, box.min[2]);
    const z1 = Math.min(this.size[2], box.max[2]);
    // Every (section, tile) pair the box overlaps, with the tile-local region to decode.
    const jobs: { z: number; tile: Tile; region: Region }[] = [];
    for (let z = z0; z < z1; z++) {
      for (const tile of this.sections[z] ?? []) {
        const x0 = Math.max(tile.left, box.min[0]);
        const x1 = Math.min(tile.left + tile.width, box.max[0]);
        const y0 = Math.max(tile.top, box.min[1]);
        const y1 = Math.min(tile.top + tile.height, box.max[1]);
        if (x1 <= x0 || y1 <= y0) continue;
        const region = {
          left: x0 - tile.left,
          top: y0 - tile.top,
          width: x1 - x0,
          height: y1 - y0,
        };
        jobs.push({ z, tile, region });
      }
    }
    if (jobs.length === 0) return block;
    const dst = block.data;
    const planeStride = sx * sy * sz;
    await mapLimit(
      jobs,
      READ_CONCURRENCY,
      async ({ z, tile, region }) => {
        const slice = tile.file;
        const encoded = this.loader ? await this.loader.load(slice, signal) : undefined;
        const full = { width: tile.width, height: tile.height };
        const pixels = await decodeSliceRegion(slice.path, this.kind, full, region, encoded);
        // Scatter interleaved pixels into the planar Fortran-order block. Only uint8/16/32 and
        // float32 arrive here (never uint64), so the number-array casts are sound.
        const src = pixels as Uint32Array;
        const out = dst as Uint32Array;
        const w = region.width;
        const gx = tile.left + region.left - box.min[0];
        const gy = tile.top + region.top - box.min[1];
        const zBase = (z - box.min[2]) * sx * sy + gx;
        if (nc === 1 && w === sx) {
          out.set(src, zBase + gy * sx); // rows are contiguous: one copy
          return;
        }
        for (let y = 0; y < region.height; y++) {
          const rowDst = zBase + (y + gy) * sx;
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
  const list = await listSlices(input, {
    zRegex: opts.zRegex,
    pattern: opts.pattern,
    allowGaps: opts.allowGaps,
  });
  const headers = await mapLimit(list.files, OPEN_CONCURRENCY, (f) => probeSlice(f.path), {
    signal,
    what: `open ${list.description}`,
  });
  return stackFromHeaders(list.description, list.files, headers, undefined, opts.allowGaps);
}

/**
 * Checks that all slices agree on size, channels and data type and builds the source. Numbered
 * slices (printf pattern or zRegex) are placed at z − (smallest z): missing numbers are zero
 * sections (listSlices already refused gaps unless they are allowed). Tiled sections (files with
 * x and y numbers): tiles are ordered by their numbers — column i starts where column i − 1
 * ends, so the numbers may be indices (0, 1, 2) or pixel offsets (0, 1024, 2048); all tiles of a
 * column share a width and all tiles of a row a height (edge tiles may be smaller); every
 * section needs every tile unless `allowGaps` (then a missing tile reads as zeros).
 */
export function stackFromHeaders(
  description: string,
  files: readonly SliceFile[],
  headers: readonly SliceHeader[],
  loader?: SliceLoader,
  allowGaps = false,
): ImageStackSource {
  const first = headers[0];
  const kind = sliceKind(first);
  const tiled = files[0].x !== undefined;
  for (let i = 1; i < headers.length; i++) {
    const h = headers[i];
    const k = sliceKind(h);
    const diffs: string[] = [];
    if (!tiled && (h.width !== first.width || h.height !== first.height)) {
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
  if (files[0].z === undefined)
    return new ImageStackSource(description, files, first, kind, loader);

  const zFirst = files[0].z;
  const depth = (files[files.length - 1].z as number) - zFirst + 1;
  const sections: (Tile[] | undefined)[] = new Array(depth).fill(undefined);
  if (!tiled) {
    files.forEach((file, i) => {
      sections[(file.z as number) - zFirst] = [
        { file, left: 0, top: 0, width: headers[i].width, height: headers[i].height },
      ];
    });
    return new ImageStackSource(description, files, first, kind, loader, {
      sections,
      width: first.width,
      height: first.height,
    });
  }

  // Column widths and row heights, from every tile (they must agree).
  const widths = new Map<number, { width: number; path: string }>();
  const heights = new Map<number, { height: number; path: string }>();
  files.forEach((f, i) => {
    const h = headers[i];
    const cw = widths.get(f.x as number);
    if (cw === undefined) widths.set(f.x as number, { width: h.width, path: f.path });
    else if (cw.width !== h.width) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${f.path}: tile column x=${f.x} is ${cw.width} pixels wide in ${cw.path} but this tile is ${h.width}`,
      );
    }
    const rh = heights.get(f.y as number);
    if (rh === undefined) heights.set(f.y as number, { height: h.height, path: f.path });
    else if (rh.height !== h.height) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${f.path}: tile row y=${f.y} is ${rh.height} pixels high in ${rh.path} but this tile is ${h.height}`,
      );
    }
  });
  const left = new Map<number, number>();
  let width = 0;
  for (const x of [...widths.keys()].sort((a, b) => a - b)) {
    left.set(x, width);
    width += (widths.get(x) as { width: number }).width;
  }
  const top = new Map<number, number>();
  let height = 0;
  for (const y of [...heights.keys()].sort((a, b) => a - b)) {
    top.set(y, height);
    height += (heights.get(y) as { height: number }).height;
  }
  files.forEach((file, i) => {
    const z = (file.z as number) - zFirst;
    sections[z] ??= [];
    sections[z].push({
      file,
      left: left.get(file.x as number) as number,
      top: top.get(file.y as number) as number,
      width: headers[i].width,
      height: headers[i].height,
    });
  });
  if (!allowGaps) {
    const expected = widths.size * heights.size;
    for (let z = 0; z < depth; z++) {
      const tiles = sections[z] ?? [];
      if (tiles.length === expected) continue;
      const have = new Set(tiles.map((t) => `${t.file.x},${t.file.y}`));
      const missing: string[] = [];
      for (const y of top.keys()) {
        for (const x of left.keys()) if (!have.has(`${x},${y}`)) missing.push(`x=${x} y=${y}`);
      }
      throw new VoxportError(
        "INVALID_SOURCE",
        `image stack "${description}": section z=${z + zFirst} lacks ${missing.length} of its ` +
          `${expected} tiles (${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}); ` +
          "--allow-gaps reads missing tiles as zeros",
      );
    }
  }
  return new ImageStackSource(description, files, first, kind, loader, {
    sections,
    width,
    height,
  });
}
