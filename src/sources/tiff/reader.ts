/**
 * Region reads from a TIFF page: only the tiles or strips that overlap the region are read and
 * decoded, one at a time, and copied into the caller's array. Memory is the region plus one
 * decoded chunk (a tile, or a strip: width × RowsPerStrip), never the page.
 *
 * Uncompressed strips are not decoded whole: the rows and columns the region needs are read
 * directly, so even a single-strip 40,000×40,000 image is read by region. A compressed strip
 * larger than MAX_CHUNK_BYTES (decoded) is refused with a message asking for a tiled file.
 */
import { VoxportError } from "../../errors.js";
import { type DataType, type TypedArray, viewAs } from "../../ops/array.js";
import { type ByteSource, openFileBytes } from "../bytes.js";
import { decompress, undoFloatPredictor, undoHorizontal } from "./codecs.js";
import { COMPRESSION, Endian, readTiffStructure, type TiffPage, tagSlice } from "./ifd.js";

/** Largest decoded tile or strip held at once (bytes); override: VOXPORT_TIFF_MAX_CHUNK_BYTES. */
export const MAX_CHUNK_BYTES = Number(process.env.VOXPORT_TIFF_MAX_CHUNK_BYTES ?? 256 * 1024 ** 2);

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Where region pixel (dx, dy) channel c goes: `data[base + dx*xStride + dy*rowStride +
 * c*channelStride]`. A Fortran-order block plane has xStride 1, rowStride = block width,
 * channelStride = the block's voxels per channel; interleaved pixels have xStride = channels,
 * channelStride 1.
 */
export interface Destination {
  data: TypedArray;
  base: number;
  xStride: number;
  rowStride: number;
  channelStride: number;
}

export class TiffFile {
  private constructor(
    readonly path: string,
    readonly littleEndian: boolean,
    readonly bigTiff: boolean,
    readonly pages: readonly TiffPage[],
    readonly fileSize: number,
  ) {}

  /** Reads and checks the structure of every page; holds no file open afterwards. */
  static async open(path: string): Promise<TiffFile> {
    const src = await openFileBytes(path);
    try {
      const s = await readTiffStructure(src);
      return new TiffFile(path, s.littleEndian, s.bigTiff, s.pages, src.size);
    } finally {
      await src.close();
    }
  }

  /** Like `open`, for bytes already read (tests). */
  static async fromBytes(src: ByteSource): Promise<TiffFile> {
    const s = await readTiffStructure(src);
    return new TiffFile(src.path, s.littleEndian, s.bigTiff, s.pages, src.size);
  }

  /** Opens the file for a batch of region reads (close it after). */
  openBytes(): Promise<ByteSource> {
    return openFileBytes(this.path);
  }

  /**
   * Copy `region` of page `pageIndex` (clipped to the page) into `dst`. `src` is an open
   * ByteSource of this file.
   */
  async readRegion(
    src: ByteSource,
    pageIndex: number,
    region: Region,
    dst: Destination,
  ): Promise<void> {
    if (src.size !== this.fileSize) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${this.path}: the file changed size since it was opened (${this.fileSize} → ${src.size} bytes)`,
      );
    }
    const page = this.pages[pageIndex];
    const e = new Endian(this.littleEndian);
    const x0 = Math.max(0, region.left);
    const y0 = Math.max(0, region.top);
    const x1 = Math.min(page.width, region.left + region.width);
    const y1 = Math.min(page.height, region.top + region.height);
    if (x1 <= x0 || y1 <= y0) return;
    const cw = page.chunkWidth;
    const ch = page.chunkHeight;
    const ca0 = Math.floor(x0 / cw);
    const ca1 = Math.ceil(x1 / cw);
    const cd0 = Math.floor(y0 / ch);
    const cd1 = Math.ceil(y1 / ch);
    const where = `${this.path} page ${page.index}`;
    for (let cy = cd0; cy < cd1; cy++) {
      const first = cy * page.chunksAcross + ca0;
      const n = ca1 - ca0;
      const offs = await tagSlice(src, e, page.offsets, first, n);
      const cnts = await tagSlice(src, e, page.byteCounts, first, n);
      for (let k = 0; k < n; k++) {
        const cx = ca0 + k;
        const chunkX = cx * cw;
        const chunkY = cy * ch;
        const rows = page.tiled ? ch : Math.min(ch, page.height - chunkY);
        // The overlap of this chunk with the region, in page coordinates.
        const ox0 = Math.max(x0, chunkX);
        const ox1 = Math.min(x1, chunkX + cw);
        const oy0 = Math.max(y0, chunkY);
        const oy1 = Math.min(y1, chunkY + rows);
        if (cnts[k] === 0) continue; // a sparse tile: zeros
        if (page.compression === COMPRESSION.none && !page.tiled) {
          await this.copyRawStripRows(src, page, offs[k], chunkY, ox0, ox1, oy0, oy1, region, dst);
          continue;
        }
        const pixelBytes = (page.samplesPerPixel * page.bitsPerSample) / 8;
        const size = cw * rows * pixelBytes;
        if (size > MAX_CHUNK_BYTES) {
          throw new VoxportError(
            "UNSUPPORTED",
            `${where}: a compressed ${page.tiled ? "tile" : "strip"} of ${cw}x${rows} pixels ` +
              `(${size} bytes decoded) is larger than ${MAX_CHUNK_BYTES} bytes; re-save the file ` +
              "tiled (e.g. tifffile's tile=(1024, 1024)) or with fewer rows per strip",
          );
        }
        const raw = await src.read(offs[k], cnts[k]);
        let values: TypedArray;
        try {
          values = decodeChunk(page, raw, size, cw, rows, this.littleEndian);
        } catch (err) {
          if (err instanceof VoxportError) throw err;
          throw new VoxportError(
            "INVALID_SOURCE",
            `${where}: cannot decode ${page.tiled ? "tile" : "strip"} ${first + k}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        copyPixels(
          values,
          page,
          cw,
          ox0 - chunkX,
          oy0 - chunkY,
          ox1 - ox0,
          oy1 - oy0,
          ox0 - region.left,
          oy0 - region.top,
          dst,
        );
      }
    }
  }

  /** Reads just the needed bytes of an uncompressed strip: one span per row, or one for all. */
  private async copyRawStripRows(
    src: ByteSource,
    page: TiffPage,
    stripOffset: number,
    stripY: number,
    ox0: number,
    ox1: number,
    oy0: number,
    oy1: number,
    region: Region,
    dst: Destination,
  ): Promise<void> {
    const bps = page.bitsPerSample / 8;
    const pixelBytes = page.samplesPerPixel * bps;
    const rowBytes = page.width * pixelBytes;
    const w = ox1 - ox0;
    const rows = oy1 - oy0;
    // Whole rows in one read when the region is most of the row; otherwise row by row.
    const wholeRows = w * 2 >= page.width || rows === 1;
    const maxRowsPerRead = Math.max(1, Math.floor((8 * 1024 ** 2) / rowBytes));
    for (let r = 0; r < rows; ) {
      const n = wholeRows ? Math.min(rows - r, maxRowsPerRead) : 1;
      const y = oy0 + r;
      const at = stripOffset + (y - stripY) * rowBytes + (wholeRows ? 0 : ox0 * pixelBytes);
      const len = wholeRows ? n * rowBytes : w * pixelBytes;
      const bytes = await src.read(at, len);
      const values = toValues(page, bytes, this.littleEndian);
      copyPixels(
        values,
        page,
        wholeRows ? page.width : w,
        wholeRows ? ox0 : 0,
        0,
        w,
        n,
        ox0 - region.left,
        y - region.top,
        dst,
      );
      r += n;
    }
  }
}

/** Decompress, undo the predictor and byte order: host-order (little-endian) samples. */
function decodeChunk(
  page: TiffPage,
  raw: Buffer,
  size: number,
  width: number,
  rows: number,
  littleEndian: boolean,
): TypedArray {
  let bytes = decompress(page.compression, raw, size);
  if (page.predictor === 3) {
    // The float predictor's output is already in host byte order.
    bytes = undoFloatPredictor(bytes.slice(), width, rows, page.samplesPerPixel);
    return viewAs(page.dtype, bytes);
  }
  const values = toValues(page, bytes, littleEndian);
  if (page.predictor === 2) {
    undoHorizontal(values as Uint16Array, width, rows, page.samplesPerPixel);
  }
  return values;
}

/** Samples of `bytes` as a typed array (a copy, byte-swapped when the file is big-endian). */
function toValues(page: TiffPage, bytes: Uint8Array, littleEndian: boolean): TypedArray {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (!littleEndian) swapInPlace(copy, page.bitsPerSample / 8);
  return viewAs(page.dtype as DataType, copy);
}

function swapInPlace(b: Uint8Array, size: number): void {
  if (size === 2) {
    for (let i = 0; i + 1 < b.length; i += 2) {
      const t = b[i];
      b[i] = b[i + 1];
      b[i + 1] = t;
    }
  } else if (size === 4) {
    for (let i = 0; i + 3 < b.length; i += 4) {
      let t = b[i];
      b[i] = b[i + 3];
      b[i + 3] = t;
      t = b[i + 1];
      b[i + 1] = b[i + 2];
      b[i + 2] = t;
    }
  }
}

/**
 * Copy a w×h window starting at (sx, sy) of a chunk whose rows are `chunkWidth` pixels of
 * `samplesPerPixel` interleaved samples, to region position (dx, dy) of `dst`. Only the first
 * `channels` samples of each pixel are kept (alpha and other extra samples are dropped).
 */
function copyPixels(
  src: TypedArray,
  page: TiffPage,
  chunkWidth: number,
  sx: number,
  sy: number,
  w: number,
  h: number,
  dx: number,
  dy: number,
  dst: Destination,
): void {
  const spp = page.samplesPerPixel;
  const out = dst.data as Uint32Array;
  const inp = src as Uint32Array;
  for (let r = 0; r < h; r++) {
    const s = ((sy + r) * chunkWidth + sx) * spp;
    const d = dst.base + (dy + r) * dst.rowStride + dx * dst.xStride;
    if (spp === 1 && dst.xStride === 1) {
      out.set(inp.subarray(s, s + w), d);
      continue;
    }
    for (let c = 0; c < page.channels; c++) {
      const dc = d + c * dst.channelStride;
      for (let x = 0, si = s + c, di = dc; x < w; x++, si += spp, di += dst.xStride) {
        out[di] = inp[si];
      }
    }
  }
}
