/**
 * One image slice: header probing (sharp metadata + cheap truncation checks) and decoding of an
 * xy region to raw, interleaved pixel values via sharp/libvips.
 *
 * What sharp 0.35 does by default, and what we do instead (verified by tests in this folder):
 * - `raw()` without a depth converts to 8 bits (a 16-bit value v becomes v >> 8), and without
 *   `toColourspace` a greyscale image comes out as 3-channel sRGB. So we always ask for the
 *   image's own colourspace and depth: grey 8-bit → "b-w"/uchar, grey 16-bit → "grey16"/ushort,
 *   RGB 8-bit → "srgb"/uchar, RGB 16-bit → "rgb16"/ushort, grey 32-bit uint or float TIFF →
 *   "b-w"/uint or float. These read back bit-exact.
 * - An embedded ICC profile makes sharp colour-convert RGB pixels; `ignoreIcc` keeps stored values.
 * - EXIF orientation is ignored (`autoOrient` stays false): voxels are in stored pixel order.
 * - `failOn: "error"`: truncated or corrupt pixel data fails the decode instead of reading as
 *   zeros (sharp's "none" silently returns zeros for a truncated PNG); libvips warnings pass.
 * - `limitInputPixels: false`: microscopy slices may exceed sharp's 268-megapixel default.
 * Alpha (grey+alpha, RGBA) is dropped: microscopy data has no transparency and Neuroglancer
 * image layers have no use for it. CMYK, signed integer and multi-page files are UNSUPPORTED.
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { extname } from "node:path";
import sharp, { type Metadata, type OutputInfo } from "sharp";
import { VoxportError } from "../errors.js";
import { allocate, type DataType, type TypedArray, viewAs } from "../ops/array.js";
import { TiffFile } from "./tiff/reader.js";

export interface SliceHeader {
  path: string;
  /** sharp's format name: png, tiff, jpeg, ... */
  format: string;
  width: number;
  height: number;
  /** Bands as stored, alpha included. */
  storedChannels: number;
  hasAlpha: boolean;
  /** libvips band format: uchar, ushort, uint, float, ... */
  depth: string;
  /** libvips interpretation: b-w, grey16, srgb, rgb16, cmyk, ... */
  space: string;
  pages: number;
}

export type DecodeColourspace = "b-w" | "grey16" | "srgb" | "rgb16";
export type RawDepth = "uchar" | "ushort" | "uint" | "float";

/** How a slice becomes voxels: the output dtype and channels and the sharp settings to get them. */
export interface SliceKind {
  dtype: DataType;
  channels: 1 | 3;
  colourspace: DecodeColourspace;
  rawDepth: RawDepth;
  dropAlpha: boolean;
}

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

const SHARP_OPTIONS = {
  failOn: "error",
  limitInputPixels: false,
  ignoreIcc: true,
  sequentialRead: true,
  autoOrient: false,
} as const;

function invalid(path: string, message: string, cause?: unknown): VoxportError {
  return new VoxportError("INVALID_SOURCE", `${path}: ${message}`, { cause });
}

/**
 * A slice that is not a local file (remote inputs read through a KvStore): its first bytes and
 * a way to read more, so headers and truncation checks cost a few small ranged reads.
 */
export interface SliceBytes {
  /** The first bytes of the object (all of it when `head.length === size`). */
  head: Buffer;
  size: number;
  /** `length` bytes from `position` (fewer at the end). */
  readAt(position: number, length: number): Promise<Buffer>;
}

/**
 * Read the image header and run the cheap truncation checks. Errors name the file. `bytes`
 * reads a remote slice instead of the local file `path` (which then only names it).
 */
export async function probeSlice(path: string, bytes?: SliceBytes): Promise<SliceHeader> {
  let meta: Metadata;
  try {
    try {
      meta = await sharp(bytes?.head ?? path, SHARP_OPTIONS).metadata();
    } catch (e) {
      // A header that does not fit in the first bytes (a TIFF whose IFD is at the end): all.
      if (bytes === undefined || bytes.head.length >= bytes.size) throw e;
      meta = await sharp(await bytes.readAt(0, bytes.size), SHARP_OPTIONS).metadata();
    }
  } catch (e) {
    const ext = extname(path).slice(1).toUpperCase() || "image";
    throw invalid(
      path,
      `cannot read image header (truncated or not a valid ${ext} file?): ${(e as Error).message.trim()}`,
      e,
    );
  }
  await checkTruncation(path, meta.format, bytes);
  return {
    path,
    format: meta.format,
    width: meta.width,
    height: meta.height,
    storedChannels: meta.channels,
    hasAlpha: meta.hasAlpha,
    depth: meta.depth,
    space: meta.space,
    pages: meta.pages ?? 1,
  };
}

/** Map a header to the voxel type we produce; UNSUPPORTED for what we cannot read exactly. */
export function sliceKind(h: SliceHeader): SliceKind {
  const unsupported = (what: string) =>
    new VoxportError("UNSUPPORTED", `${h.path}: ${what} is not supported in image stacks`);
  if (h.pages > 1) {
    throw unsupported(
      `a multi-page ${h.format} (${h.pages} pages; only its first page would be read)`,
    );
  }
  let channels: 1 | 3;
  let dropAlpha = false;
  if (h.storedChannels === 1) channels = 1;
  else if (h.storedChannels === 2 && h.hasAlpha) {
    channels = 1;
    dropAlpha = true;
  } else if (h.storedChannels === 3) channels = 3;
  else if (h.storedChannels === 4 && h.hasAlpha) {
    channels = 3;
    dropAlpha = true;
  } else {
    throw unsupported(`an image with ${h.storedChannels} channels (${h.space})`);
  }
  if (h.space === "cmyk" || h.space === "lab" || h.space === "labs") {
    throw unsupported(`colourspace ${h.space}`);
  }
  switch (h.depth) {
    case "uchar":
      return {
        dtype: "uint8",
        channels,
        colourspace: channels === 1 ? "b-w" : "srgb",
        rawDepth: "uchar",
        dropAlpha,
      };
    case "ushort":
      return {
        dtype: "uint16",
        channels,
        colourspace: channels === 1 ? "grey16" : "rgb16",
        rawDepth: "ushort",
        dropAlpha,
      };
    case "uint":
      if (channels === 1)
        return { dtype: "uint32", channels, colourspace: "b-w", rawDepth: "uint", dropAlpha };
      break;
    case "float":
      if (channels === 1)
        return { dtype: "float32", channels, colourspace: "b-w", rawDepth: "float", dropAlpha };
      break;
  }
  throw unsupported(`sample format ${h.depth} with ${channels} channel(s)`);
}

/**
 * Decode `region` of the slice (default: all of it) to interleaved values (channel fastest, then
 * x, then y). Memory is the region only (plus libvips' line buffers), plus `encoded` when given.
 */
export async function decodeSliceRegion(
  path: string,
  kind: SliceKind,
  fullSize: { width: number; height: number },
  region: Region,
  encoded?: Buffer,
): Promise<TypedArray> {
  if (
    encoded === undefined &&
    fullSize.width * fullSize.height > DECODE_LIMITS.ownTiffPixels &&
    /\.(tiff?|btf|tf8)$/i.test(path)
  ) {
    const own = await decodeLargeTiffRegion(path, kind, region);
    if (own !== undefined) return own;
  }
  let data: Buffer;
  let info: OutputInfo;
  try {
    // `encoded`: the whole file's bytes for a remote slice (sharp decodes from memory).
    let p = sharp(encoded ?? path, SHARP_OPTIONS);
    if (
      region.left !== 0 ||
      region.top !== 0 ||
      region.width !== fullSize.width ||
      region.height !== fullSize.height
    ) {
      p = p.extract(region);
    }
    if (kind.dropAlpha) p = p.removeAlpha();
    ({ data, info } = await p
      .toColourspace(kind.colourspace)
      .raw({ depth: kind.rawDepth })
      .toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw invalid(path, `cannot decode: ${(e as Error).message.trim()}`, e);
  }
  const expectedBytes = region.width * region.height * kind.channels * bytesOf(kind.rawDepth);
  if (
    info.width !== region.width ||
    info.height !== region.height ||
    info.channels !== kind.channels ||
    data.byteLength !== expectedBytes
  ) {
    throw invalid(
      path,
      `decoded ${info.width}x${info.height}x${info.channels} (${data.byteLength} bytes), expected ` +
        `${region.width}x${region.height}x${kind.channels} (${expectedBytes} bytes); did the file change?`,
    );
  }
  return viewAs(kind.dtype, data);
}

/**
 * Local TIFF slices with more pixels than `ownTiffPixels` are read by voxport's own TIFF reader
 * (src/sources/tiff/), which touches only the tiles or strips a region overlaps: libvips would
 * decode every strip above the region, and a 40,000×40,000 slice must not be decoded whole.
 * Files the reader does not support (JPEG-compressed, palette, …) still go through sharp.
 */
export const DECODE_LIMITS = { ownTiffPixels: 64 * 1024 * 1024 };

const tiffFiles = new Map<string, Promise<TiffFile>>();
const TIFF_CACHE_ENTRIES = 32;

async function decodeLargeTiffRegion(
  path: string,
  kind: SliceKind,
  region: Region,
): Promise<TypedArray | undefined> {
  let pending = tiffFiles.get(path);
  if (pending === undefined) {
    pending = TiffFile.open(path);
    tiffFiles.set(path, pending);
    if (tiffFiles.size > TIFF_CACHE_ENTRIES) {
      tiffFiles.delete(tiffFiles.keys().next().value as string);
    }
  }
  let file: TiffFile;
  try {
    file = await pending;
  } catch (e) {
    tiffFiles.delete(path);
    if (e instanceof VoxportError && e.code === "UNSUPPORTED") return undefined;
    throw e;
  }
  const page = file.pages[0];
  if (page.dtype !== kind.dtype || page.channels !== kind.channels) return undefined;
  const out = allocate(kind.dtype, region.width * region.height * kind.channels);
  const src = await file.openBytes();
  try {
    await file.readRegion(src, 0, region, {
      data: out,
      base: 0,
      xStride: kind.channels,
      rowStride: region.width * kind.channels,
      channelStride: 1,
    });
  } finally {
    await src.close();
  }
  return out;
}

function bytesOf(d: RawDepth): number {
  return d === "uchar" ? 1 : d === "ushort" ? 2 : 4;
}

// ---------------------------------------------------------------------------------------------
// Truncation checks. A slice cut short by an interrupted copy is the most common broken input;
// catching it at open time (instead of hours into a job) is worth a few small reads per file.

const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/** Random access to a slice's bytes, from a local file or a remote object. */
interface ByteReader {
  readAt(position: number, length: number): Promise<Buffer>;
}

async function checkTruncation(path: string, format: string, bytes?: SliceBytes): Promise<void> {
  const ext = extname(path).toLowerCase();
  const kind =
    format === "png" || ext === ".png"
      ? "png"
      : format === "jpeg" || ext === ".jpg" || ext === ".jpeg"
        ? "jpeg"
        : format === "tiff" || ext === ".tif" || ext === ".tiff"
          ? "tiff"
          : undefined;
  if (kind === undefined) return;
  let fh: FileHandle | undefined;
  try {
    let size: number;
    let reader: ByteReader;
    if (bytes !== undefined) {
      size = bytes.size;
      reader = {
        readAt: (position, length) =>
          position + length <= bytes.head.length
            ? Promise.resolve(bytes.head.subarray(position, position + length))
            : bytes.readAt(position, length),
      };
    } else {
      const handle = await open(path, "r");
      fh = handle;
      size = (await handle.stat()).size;
      reader = { readAt: (position, length) => readAt(handle, position, length) };
    }
    if (kind === "png") {
      const tail = await reader.readAt(Math.max(0, size - 12), Math.min(12, size));
      if (!tail.equals(PNG_IEND))
        throw invalid(path, "truncated PNG (does not end with the IEND chunk)");
    } else if (kind === "jpeg") {
      // Allow zero padding after the end-of-image marker (some writers pad to a block size).
      const n = Math.min(64, size);
      const tail = await reader.readAt(size - n, n);
      let end = tail.length;
      while (end > 0 && tail[end - 1] === 0) end--;
      if (end < 2 || tail[end - 2] !== 0xff || tail[end - 1] !== 0xd9) {
        throw invalid(path, "truncated JPEG (does not end with the FFD9 end-of-image marker)");
      }
    } else {
      const needed = await tiffDataEnd(reader, size);
      if (needed !== undefined && needed > size) {
        throw invalid(
          path,
          `truncated TIFF (image data extends to byte ${needed}, file has ${size})`,
        );
      }
    }
  } catch (e) {
    if (e instanceof VoxportError) throw e;
    throw invalid(path, `cannot read: ${(e as Error).message}`, e);
  } finally {
    await fh?.close();
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

const TAG_STRIP_OFFSETS = 273;
const TAG_STRIP_BYTE_COUNTS = 279;
const TAG_TILE_OFFSETS = 324;
const TAG_TILE_BYTE_COUNTS = 325;
const MAX_CHUNKS_CHECKED = 1 << 20;

/**
 * End of the first IFD's image data (max offset + byte count over strips/tiles), or of the IFD
 * itself when that already lies past the end; undefined when the header is not something this
 * small parser understands (then we rely on libvips). Classic TIFF and BigTIFF.
 */
async function tiffDataEnd(fh: ByteReader, size: number): Promise<number | undefined> {
  const head = await fh.readAt(0, 16);
  if (head.length < 8) return 8;
  const le = head[0] === 0x49 && head[1] === 0x49;
  if (!le && !(head[0] === 0x4d && head[1] === 0x4d)) return undefined;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const magic = u16(head, 2);
  const big = magic === 43;
  if (!big && magic !== 42) return undefined;
  if (big && head.length < 16) return 16;
  const ifd = big ? u64(head, 8) : u32(head, 4);
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  if (ifd + countSize > size) return ifd + countSize;
  const countBuf = await fh.readAt(ifd, countSize);
  const n = big ? u64(countBuf, 0) : u16(countBuf, 0);
  const tableEnd = ifd + countSize + n * entrySize;
  if (tableEnd > size) return tableEnd;
  const table = await fh.readAt(ifd + countSize, n * entrySize);
  const arrays = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const e = i * entrySize;
    const tag = u16(table, e);
    if (
      tag !== TAG_STRIP_OFFSETS &&
      tag !== TAG_STRIP_BYTE_COUNTS &&
      tag !== TAG_TILE_OFFSETS &&
      tag !== TAG_TILE_BYTE_COUNTS
    ) {
      continue;
    }
    const type = u16(table, e + 2);
    const typeSize = type === 3 ? 2 : type === 4 ? 4 : type === 16 ? 8 : 0;
    if (typeSize === 0) return undefined;
    const count = big ? u64(table, e + 4) : u32(table, e + 4);
    if (count > MAX_CHUNKS_CHECKED) return undefined;
    const bytes = count * typeSize;
    const inlineSize = big ? 8 : 4;
    const valueAt = e + (big ? 12 : 8);
    let buf: Buffer;
    if (bytes <= inlineSize) buf = table.subarray(valueAt, valueAt + bytes);
    else {
      const at = big ? u64(table, valueAt) : u32(table, valueAt);
      if (at + bytes > size) return at + bytes;
      buf = await fh.readAt(at, bytes);
    }
    const values: number[] = [];
    for (let k = 0; k < count; k++) {
      values.push(
        typeSize === 2 ? u16(buf, k * 2) : typeSize === 4 ? u32(buf, k * 4) : u64(buf, k * 8),
      );
    }
    arrays.set(tag, values);
  }
  let end = tableEnd;
  for (const [offTag, cntTag] of [
    [TAG_STRIP_OFFSETS, TAG_STRIP_BYTE_COUNTS],
    [TAG_TILE_OFFSETS, TAG_TILE_BYTE_COUNTS],
  ]) {
    const offs = arrays.get(offTag);
    const cnts = arrays.get(cntTag);
    if (offs === undefined || cnts === undefined || offs.length !== cnts.length) continue;
    for (let k = 0; k < offs.length; k++) {
      if (cnts[k] > 0) end = Math.max(end, offs[k] + cnts[k]);
    }
  }
  return end;
}
