/**
 * Aligned sections (a registry.txt or a .jsonl sections file, see registry.ts) as a 3-D volume.
 *
 * Global coordinates are those of the list: a section's affine maps its pixels there, z is the
 * section's z. The volume covers `box` (global; ChunkFlow task JSON gives it) or, by default,
 * the union of the placed sections: x/y from the bounding rectangles of the transformed sections,
 * z from the first to the last listed z. Source voxel (0, 0, 0) is global `origin` = box.min;
 * the ingest uses `origin` as the default voxel_offset, so dataset coordinates are the global
 * ones. Missing z and everything outside a section read as zeros.
 *
 * `read(box)`: for each z in the box that has a section, the output window's source footprint
 * (sourceFootprint) is read from the file — only that region, so memory follows the task box,
 * not the section; note that a section scaled down by k needs k² times the window's pixels —
 * and resampled into the block (warpAffine: linear for images, nearest for labels), at most
 * READ_CONCURRENCY sections at a time. Whole-pixel translations (every registry.txt) are copied
 * without resampling; they give the same voxels either way.
 */
import { VoxportError } from "../../errors.js";
import { type Block, type DataType, makeBlock, type Vec3 } from "../../ops/array.js";
import { type Box, boxToString } from "../../ops/bbox.js";
import {
  type Affine2,
  outputExtent,
  type Plane,
  type Rect,
  type ResampleMethod,
  sourceFootprint,
  warpAffine,
} from "../../ops/resample.js";
import { throwIfAborted } from "../../storage/abort.js";
import { mapLimit } from "../concurrency.js";
import { startRead, type VolumeSource } from "../source.js";
import { readSectionList, type SectionEntry, type SectionList, sectionPath } from "./registry.js";
import { openSectionFile, type SectionFile } from "./section.js";

/** Section headers read at once while opening. */
export const OPEN_CONCURRENCY = 16;
/** Sections read and resampled at once by one `read`. */
export const READ_CONCURRENCY = 4;

export interface AlignedOptions {
  /** The output extent in global coordinates; default: the union of the placed sections. */
  box?: Box;
  /** linear for images, nearest for labels. */
  method: ResampleMethod;
  /** float32 sections: NaN becomes 0 (ChunkFlow's `isRemoveNaN`). */
  removeNaN?: boolean;
  signal?: AbortSignal;
}

export interface PlacedSection {
  entry: SectionEntry;
  file: SectionFile;
  /** Where the section lands, global, integer pixels. */
  extent: Rect;
}

function isWholeTranslation(m: Affine2): boolean {
  return (
    m[0] === 1 &&
    m[1] === 0 &&
    m[2] === 0 &&
    m[3] === 1 &&
    Number.isInteger(m[4]) &&
    Number.isInteger(m[5])
  );
}

export class AlignedSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels: number;
  readonly resolution?: Vec3;
  /** Global coordinates of source voxel (0, 0, 0): the default voxel_offset. */
  readonly origin: Vec3;
  readonly voxelOffset: Vec3;
  readonly list: SectionList;
  readonly method: ResampleMethod;
  private readonly byZ: Map<number, PlacedSection>;
  private readonly removeNaN: boolean;

  constructor(list: SectionList, placed: PlacedSection[], opts: AlignedOptions) {
    this.list = list;
    this.method = opts.method;
    this.removeNaN = opts.removeNaN ?? false;
    this.byZ = new Map(placed.map((p) => [p.entry.z, p]));
    const first = placed[0].file;
    this.dtype = first.dtype;
    this.channels = first.channels;
    let box = opts.box;
    if (!box) {
      const min: Vec3 = [Infinity, Infinity, Infinity];
      const max: Vec3 = [-Infinity, -Infinity, -Infinity];
      for (const p of placed) {
        min[0] = Math.min(min[0], p.extent.x0);
        min[1] = Math.min(min[1], p.extent.y0);
        min[2] = Math.min(min[2], p.entry.z);
        max[0] = Math.max(max[0], p.extent.x1);
        max[1] = Math.max(max[1], p.extent.y1);
        max[2] = Math.max(max[2], p.entry.z + 1);
      }
      box = { min, max };
    }
    this.origin = [...box.min];
    this.voxelOffset = this.origin;
    this.size = [box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2]];
    const missing =
      this.size[2] - placed.filter((p) => p.entry.z >= box.min[2] && p.entry.z < box.max[2]).length;
    this.description =
      `${list.file} (${placed.length} ${list.format === "registry" ? "registry" : "listed"} section(s)` +
      `${missing > 0 ? `, ${missing} missing z read as zeros` : ""})`;
  }

  /** The section at global z, if any. */
  section(z: number): PlacedSection | undefined {
    return this.byZ.get(z);
  }

  async read(box: Box, options: { signal?: AbortSignal } = {}): Promise<Block> {
    const { signal } = options;
    const {
      block,
      size: [sx, sy, sz],
    } = startRead(this, box, signal);
    const nc = this.channels;
    if (sx === 0 || sy === 0 || sz === 0) return block;
    // The box in global coordinates; only the part inside the volume is filled.
    const o = this.origin;
    const out: Rect = {
      x0: Math.max(box.min[0], 0) + o[0],
      y0: Math.max(box.min[1], 0) + o[1],
      x1: Math.min(box.max[0], this.size[0]) + o[0],
      y1: Math.min(box.max[1], this.size[1]) + o[1],
    };
    if (out.x1 <= out.x0 || out.y1 <= out.y0) return block;
    const jobs: Array<{ k: number; p: PlacedSection }> = [];
    for (let k = Math.max(box.min[2], 0); k < Math.min(box.max[2], this.size[2]); k++) {
      const p = this.byZ.get(k + o[2]);
      if (p && overlaps(p.extent, out)) jobs.push({ k: k - box.min[2], p });
    }
    const plane = sx * sy;
    await mapLimit(
      jobs,
      READ_CONCURRENCY,
      async ({ k, p }) => {
        // Only the part of the box the section can reach.
        const win: Rect = {
          x0: Math.max(out.x0, p.extent.x0),
          y0: Math.max(out.y0, p.extent.y0),
          x1: Math.min(out.x1, p.extent.x1),
          y1: Math.min(out.y1, p.extent.y1),
        };
        const window = await this.renderSection(p, win);
        if (!window) return;
        // Copy the rendered window into slice k of the block (channels planar, slowest).
        const ww = window.width;
        const wh = window.height;
        const dst = block.data as Uint16Array;
        const src = window.data as Uint16Array;
        const dx = win.x0 - o[0] - box.min[0];
        const dy = win.y0 - o[1] - box.min[1];
        for (let c = 0; c < nc; c++) {
          const base = c * plane * sz + k * plane;
          for (let j = 0; j < wh; j++) {
            const s = (c * wh + j) * ww;
            dst.set(src.subarray(s, s + ww), base + (dy + j) * sx + dx);
          }
        }
      },
      { signal, what: `${this.description}: read ${boxToString(box)}` },
    );
    return block;
  }

  /** The section resampled onto global window `out`; undefined when it reads nothing there. */
  private async renderSection(p: PlacedSection, out: Rect): Promise<Plane | undefined> {
    const { file, entry } = p;
    const m = entry.affine;
    const wantW = out.x1 - out.x0;
    const wantH = out.y1 - out.y0;
    const result: Plane = {
      data: makeBlock(this.dtype, [wantW, wantH, 1, this.channels]).data,
      x0: out.x0,
      y0: out.y0,
      width: wantW,
      height: wantH,
      channels: this.channels,
    };
    if (isWholeTranslation(m)) {
      // Pixel (i, j) lands on (i + e, j + f): copy the overlap row by row.
      const r: Rect = {
        x0: Math.max(0, out.x0 - m[4]),
        y0: Math.max(0, out.y0 - m[5]),
        x1: Math.min(file.width, out.x1 - m[4]),
        y1: Math.min(file.height, out.y1 - m[5]),
      };
      if (r.x1 <= r.x0 || r.y1 <= r.y0) return undefined;
      const src = await file.read(r);
      const w = r.x1 - r.x0;
      const h = r.y1 - r.y0;
      const dst = result.data as Uint16Array;
      const s = src.data as Uint16Array;
      for (let c = 0; c < this.channels; c++) {
        for (let j = 0; j < h; j++) {
          const row = (c * h + j) * w;
          const at = (c * wantH + (r.y0 + m[5] - out.y0 + j)) * wantW + (r.x0 + m[4] - out.x0);
          dst.set(s.subarray(row, row + w), at);
        }
      }
      return result;
    }
    const r = sourceFootprint(m, out, file.width, file.height, this.method);
    if (!r) return undefined;
    const src = await file.read(r);
    warpAffine(src, file.width, file.height, m, result, this.method, this.dtype);
    if (this.removeNaN && this.dtype === "float32") {
      const d = result.data as Float32Array;
      for (let i = 0; i < d.length; i++) if (Number.isNaN(d[i])) d[i] = 0;
    }
    return result;
  }
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/**
 * Reads the list, opens every section's header (OPEN_CONCURRENCY at a time) and checks that all
 * agree on data type and channels and match their registry line's size. Errors name the list
 * file and line (missing file, malformed line or affine) or the section file (unreadable,
 * inconsistent); they all happen here, before an ingest writes anything.
 */
export async function openAligned(input: string, opts: AlignedOptions): Promise<AlignedSource> {
  const { signal } = opts;
  throwIfAborted(signal, `open ${input}`);
  const list = await readSectionList(input);
  // Resolve every path first: a missing file is reported before any header is read.
  const paths = list.sections.map((s) => sectionPath(list, s));
  const placed = await mapLimit(
    list.sections,
    OPEN_CONCURRENCY,
    async (entry, i): Promise<PlacedSection> => {
      let file: SectionFile;
      try {
        file = await openSectionFile(paths[i]);
      } catch (e) {
        if (e instanceof VoxportError) {
          throw new VoxportError(e.code, `${entry.where}: ${e.message}`, { cause: e });
        }
        throw e;
      }
      const d = entry.declaredSize;
      if (d && (d[0] !== file.width || d[1] !== file.height)) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${entry.where}: the registry says ${d[0]}×${d[1]} but ${file.path} is ${file.width}×${file.height}`,
        );
      }
      return { entry, file, extent: outputExtent(entry.affine, file.width, file.height) };
    },
    { signal, what: `open ${list.file}` },
  );
  const first = placed[0].file;
  for (const p of placed) {
    if (p.file.dtype !== first.dtype || p.file.channels !== first.channels) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${p.entry.where}: ${p.file.path} is ${p.file.dtype} with ${p.file.channels} channel(s), ` +
          `but ${first.path} is ${first.dtype} with ${first.channels}; all sections must agree`,
      );
    }
  }
  if (opts.method === "linear" && first.dtype === "uint64") {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${list.file}: uint64 sections are labels; ingest them with --type segmentation (nearest resampling)`,
    );
  }
  if (opts.box) {
    for (let d = 0; d < 3; d++) {
      if (!(opts.box.max[d] > opts.box.min[d])) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `${list.file}: empty extent ${boxToString(opts.box)}`,
        );
      }
    }
  }
  return new AlignedSource(list, placed, opts);
}
