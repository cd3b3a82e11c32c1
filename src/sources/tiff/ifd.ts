/**
 * TIFF structure: the header and the chain of image file directories (IFDs), classic TIFF
 * (32-bit offsets) and BigTIFF (64-bit), little- or big-endian. Every page is described and
 * checked here — data type, layout, compression, tile/strip counts, and that every tile or strip
 * lies inside the file — so a file that lies about its size fails when it is opened, naming the
 * file and page, before anything is written.
 *
 * Written from the TIFF 6.0 specification, the BigTIFF design note and the Adobe technical
 * notes on deflate and the floating-point predictor.
 */
import { VoxportError } from "../../errors.js";
import type { DataType } from "../../ops/array.js";
import type { ByteSource } from "../bytes.js";

export const COMPRESSION = {
  none: 1,
  lzw: 5,
  deflate: 8,
  deflateOld: 32946,
  packbits: 32773,
} as const;

const COMPRESSION_NAMES: Record<number, string> = {
  2: "CCITT RLE",
  3: "CCITT fax 3",
  4: "CCITT fax 4",
  6: "old-style JPEG",
  7: "JPEG",
  34712: "JPEG 2000",
  34887: "LERC",
  34925: "LZMA",
  50000: "Zstandard",
  50001: "WebP",
  50002: "JPEG XL",
};

/** Where an array-valued tag's values are: inline in the IFD entry or at an offset. */
interface TagArray {
  type: number;
  count: number;
  /** Offset of the values in the file, or -1 when they are inline (then `inline` holds them). */
  at: number;
  inline?: number[];
}

export interface TiffPage {
  /** 0-based index among the image pages (reduced-resolution and mask IFDs are skipped). */
  index: number;
  width: number;
  height: number;
  /** Samples stored per pixel (alpha included) and samples kept (1 or 3). */
  samplesPerPixel: number;
  channels: 1 | 3;
  bitsPerSample: 8 | 16 | 32;
  dtype: DataType;
  compression: number;
  /** 1 none, 2 horizontal differencing, 3 floating point. */
  predictor: 1 | 2 | 3;
  tiled: boolean;
  /** Tile size, or for strips: width × rows per strip. */
  chunkWidth: number;
  chunkHeight: number;
  chunksAcross: number;
  chunksDown: number;
  offsets: TagArray;
  byteCounts: TagArray;
}

export interface TiffStructure {
  littleEndian: boolean;
  bigTiff: boolean;
  pages: TiffPage[];
}

const TAG = {
  newSubfileType: 254,
  width: 256,
  height: 257,
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  stripOffsets: 273,
  samplesPerPixel: 277,
  rowsPerStrip: 278,
  stripByteCounts: 279,
  planarConfig: 284,
  predictor: 317,
  tileWidth: 322,
  tileLength: 323,
  tileOffsets: 324,
  tileByteCounts: 325,
  extraSamples: 338,
  sampleFormat: 339,
} as const;

const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

/** More pages than this is surely a loop or garbage. */
const MAX_PAGES = 1 << 20;

export class Endian {
  constructor(readonly le: boolean) {}
  u16(b: Buffer, o: number): number {
    return this.le ? b.readUInt16LE(o) : b.readUInt16BE(o);
  }
  u32(b: Buffer, o: number): number {
    return this.le ? b.readUInt32LE(o) : b.readUInt32BE(o);
  }
  u64(b: Buffer, o: number): number {
    const v = this.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  /** An unsigned integer of TIFF type `type` (BYTE, SHORT, LONG, LONG8, IFD, IFD8). */
  uint(b: Buffer, o: number, type: number): number {
    switch (type) {
      case 1:
      case 7:
        return b[o];
      case 3:
        return this.u16(b, o);
      case 4:
      case 13:
        return this.u32(b, o);
      case 16:
      case 18:
        return this.u64(b, o);
      default:
        return Number.NaN;
    }
  }
}

function bad(path: string, what: string): VoxportError {
  return new VoxportError("INVALID_SOURCE", `${path}: ${what}`);
}

function unsupported(path: string, what: string): VoxportError {
  return new VoxportError("UNSUPPORTED", `${path}: ${what} is not supported by the TIFF reader`);
}

/** Reads the header and every IFD; checks each page (see the file comment). */
export async function readTiffStructure(src: ByteSource): Promise<TiffStructure> {
  const { path } = src;
  if (src.size < 8) throw bad(path, `not a TIFF file (${src.size} bytes)`);
  const head = await src.read(0, Math.min(16, src.size));
  const order = head.toString("latin1", 0, 2);
  if (order !== "II" && order !== "MM") throw bad(path, "not a TIFF file (no II/MM byte order)");
  const e = new Endian(order === "II");
  const magic = e.u16(head, 2);
  if (magic !== 42 && magic !== 43) throw bad(path, `not a TIFF file (magic number ${magic})`);
  const big = magic === 43;
  if (big && (head.length < 16 || e.u16(head, 4) !== 8)) {
    throw bad(path, "BigTIFF header is broken (offset size is not 8)");
  }
  let ifd = big ? e.u64(head, 8) : e.u32(head, 4);
  const pages: TiffPage[] = [];
  const seen = new Set<number>();
  let ifdIndex = 0;
  while (ifd !== 0) {
    if (seen.has(ifd)) throw bad(path, `IFD chain loops back to offset ${ifd}`);
    if (seen.size >= MAX_PAGES) throw bad(path, `more than ${MAX_PAGES} IFDs`);
    seen.add(ifd);
    const countSize = big ? 8 : 2;
    const entrySize = big ? 20 : 12;
    const where = `IFD ${ifdIndex} at byte ${ifd}`;
    if (ifd + countSize > src.size) {
      throw bad(path, `${where} lies past the end of the file (${src.size} bytes)`);
    }
    const cb = await src.read(ifd, countSize);
    const n = big ? e.u64(cb, 0) : e.u16(cb, 0);
    const tableBytes = n * entrySize + (big ? 8 : 4);
    if (ifd + countSize + tableBytes > src.size) {
      throw bad(path, `${where} with ${n} entries runs past the end of the file`);
    }
    const table = await src.read(ifd + countSize, tableBytes);
    const tags = new Map<number, TagArray>();
    for (let i = 0; i < n; i++) {
      const o = i * entrySize;
      const tag = e.u16(table, o);
      const type = e.u16(table, o + 2);
      const count = big ? e.u64(table, o + 4) : e.u32(table, o + 4);
      const size = TYPE_SIZE[type];
      if (size === undefined) continue; // unknown types are skipped, as the spec asks
      const valueAt = o + (big ? 12 : 8);
      const inlineBytes = big ? 8 : 4;
      if (count * size <= inlineBytes) {
        const values: number[] = [];
        for (let k = 0; k < count; k++) values.push(e.uint(table, valueAt + k * size, type));
        tags.set(tag, { type, count, at: -1, inline: values });
      } else {
        const at = big ? e.u64(table, valueAt) : e.u32(table, valueAt);
        tags.set(tag, { type, count, at });
      }
    }
    const next = big ? e.u64(table, n * entrySize) : e.u32(table, n * entrySize);
    const page = await describePage(src, e, tags, pages.length, where);
    if (page !== undefined) pages.push(page);
    ifd = next;
    ifdIndex++;
  }
  if (pages.length === 0) throw bad(path, "has no image pages");
  return { littleEndian: e.le, bigTiff: big, pages };
}

/** All values of an array tag (read from the file when not inline). */
export async function tagValues(src: ByteSource, e: Endian, t: TagArray): Promise<Float64Array> {
  const out = new Float64Array(t.count);
  if (t.inline) {
    out.set(t.inline);
    return out;
  }
  const size = TYPE_SIZE[t.type];
  const buf = await src.read(t.at, t.count * size);
  for (let k = 0; k < t.count; k++) out[k] = e.uint(buf, k * size, t.type);
  return out;
}

async function scalar(
  src: ByteSource,
  e: Endian,
  tags: Map<number, TagArray>,
  tag: number,
  fallback?: number,
): Promise<number | undefined> {
  const t = tags.get(tag);
  if (t === undefined || t.count === 0) return fallback;
  return (await tagValues(src, e, { ...t, count: Math.min(t.count, 1) }))[0];
}

async function describePage(
  src: ByteSource,
  e: Endian,
  tags: Map<number, TagArray>,
  index: number,
  where: string,
): Promise<TiffPage | undefined> {
  const { path } = src;
  const subfile = (await scalar(src, e, tags, TAG.newSubfileType, 0)) as number;
  // Reduced-resolution copies (pyramid levels, thumbnails) and transparency masks are not
  // sections of the volume.
  if (subfile & 0b101) return undefined;
  const at = `${where} (page ${index})`;
  const width = await scalar(src, e, tags, TAG.width);
  const height = await scalar(src, e, tags, TAG.height);
  if (width === undefined || height === undefined || !(width > 0) || !(height > 0)) {
    throw bad(path, `${at}: missing or zero ImageWidth/ImageLength`);
  }
  const spp = (await scalar(src, e, tags, TAG.samplesPerPixel, 1)) as number;
  const bitsTag = tags.get(TAG.bitsPerSample);
  const bitsAll = bitsTag ? await tagValues(src, e, bitsTag) : Float64Array.of(1);
  const bits = bitsAll[0];
  if (bitsAll.some((b) => b !== bits)) {
    throw unsupported(path, `${at}: mixed bits per sample (${[...bitsAll].join(",")})`);
  }
  const formatTag = tags.get(TAG.sampleFormat);
  const format = formatTag ? (await tagValues(src, e, formatTag))[0] : 1;
  const compression = (await scalar(src, e, tags, TAG.compression, 1)) as number;
  const photometric = (await scalar(src, e, tags, TAG.photometric, 1)) as number;
  const planar = (await scalar(src, e, tags, TAG.planarConfig, 1)) as number;
  const predictor = (await scalar(src, e, tags, TAG.predictor, 1)) as number;

  let dtype: DataType | undefined;
  if (format === 1 || format === 4) {
    dtype = bits === 8 ? "uint8" : bits === 16 ? "uint16" : bits === 32 ? "uint32" : undefined;
  } else if (format === 2) {
    dtype = bits === 8 ? "int8" : bits === 16 ? "int16" : bits === 32 ? "int32" : undefined;
  } else if (format === 3 && bits === 32) dtype = "float32";
  if (dtype === undefined) {
    const kind = format === 3 ? "float" : format === 2 ? "signed" : "unsigned";
    throw unsupported(path, `${at}: ${bits}-bit ${kind} samples`);
  }
  let channels: 1 | 3;
  if (photometric === 1 && (spp === 1 || spp === 2)) channels = 1;
  else if (photometric === 2 && (spp === 3 || spp === 4)) channels = 3;
  else {
    const name =
      photometric === 0
        ? "WhiteIsZero"
        : photometric === 3
          ? "palette colour"
          : photometric === 5
            ? "CMYK"
            : photometric === 6
              ? "YCbCr"
              : `photometric ${photometric}`;
    throw unsupported(path, `${at}: ${name} with ${spp} sample(s) per pixel`);
  }
  if (spp > channels && !tags.has(TAG.extraSamples)) {
    throw unsupported(path, `${at}: ${spp} samples per pixel without ExtraSamples`);
  }
  if (planar !== 1 && spp > 1) {
    throw unsupported(path, `${at}: separate sample planes (PlanarConfiguration 2)`);
  }
  if (
    compression !== COMPRESSION.none &&
    compression !== COMPRESSION.lzw &&
    compression !== COMPRESSION.deflate &&
    compression !== COMPRESSION.deflateOld &&
    compression !== COMPRESSION.packbits
  ) {
    const name = COMPRESSION_NAMES[compression] ?? `compression ${compression}`;
    throw unsupported(
      path,
      `${at}: ${name} (supported: none, LZW, deflate/zlib, PackBits; re-save with one of them)`,
    );
  }
  if (predictor !== 1 && predictor !== 2 && predictor !== 3) {
    throw unsupported(path, `${at}: predictor ${predictor}`);
  }
  if (predictor === 3 && dtype !== "float32") {
    throw unsupported(path, `${at}: the floating-point predictor on ${dtype} samples`);
  }

  const tiled = tags.has(TAG.tileOffsets);
  let chunkWidth: number;
  let chunkHeight: number;
  const offsets = tags.get(tiled ? TAG.tileOffsets : TAG.stripOffsets);
  const byteCounts = tags.get(tiled ? TAG.tileByteCounts : TAG.stripByteCounts);
  const what = tiled ? "tile" : "strip";
  if (tiled) {
    chunkWidth = (await scalar(src, e, tags, TAG.tileWidth, 0)) as number;
    chunkHeight = (await scalar(src, e, tags, TAG.tileLength, 0)) as number;
    if (!(chunkWidth > 0) || !(chunkHeight > 0)) {
      throw bad(path, `${at}: tiled but TileWidth/TileLength is missing or zero`);
    }
  } else {
    chunkWidth = width;
    const rps = (await scalar(src, e, tags, TAG.rowsPerStrip, height)) as number;
    chunkHeight = Math.max(1, Math.min(height, rps));
  }
  if (offsets === undefined || byteCounts === undefined) {
    throw bad(path, `${at}: no ${what} offsets or byte counts`);
  }
  for (const t of [offsets, byteCounts]) {
    if (![3, 4, 13, 16, 18].includes(t.type)) {
      throw bad(
        path,
        `${at}: ${what} offsets/byte counts have TIFF type ${t.type}, not an integer`,
      );
    }
  }
  const chunksAcross = Math.ceil(width / chunkWidth);
  const chunksDown = Math.ceil(height / chunkHeight);
  const expected = chunksAcross * chunksDown;
  if (offsets.count !== expected || byteCounts.count !== expected) {
    throw bad(
      path,
      `${at}: ${offsets.count} ${what} offsets and ${byteCounts.count} byte counts, but a ` +
        `${width}x${height} image in ${chunkWidth}x${chunkHeight} ${what}s has ${expected}`,
    );
  }
  const page: TiffPage = {
    index,
    width,
    height,
    samplesPerPixel: spp,
    channels,
    bitsPerSample: bits as 8 | 16 | 32,
    dtype,
    compression,
    predictor: predictor as 1 | 2 | 3,
    tiled,
    chunkWidth,
    chunkHeight,
    chunksAcross,
    chunksDown,
    offsets,
    byteCounts,
  };
  await checkChunks(src, e, page, at);
  return page;
}

/**
 * Every tile/strip must lie inside the file, and an uncompressed one must hold all its bytes.
 * Reads the two arrays in slices, so a page with millions of tiles costs little memory.
 */
async function checkChunks(src: ByteSource, e: Endian, page: TiffPage, at: string): Promise<void> {
  const what = page.tiled ? "tile" : "strip";
  const step = 1 << 16;
  const pixelBytes = (page.samplesPerPixel * page.bitsPerSample) / 8;
  for (let first = 0; first < page.offsets.count; first += step) {
    const n = Math.min(step, page.offsets.count - first);
    const offs = await tagSlice(src, e, page.offsets, first, n);
    const cnts = await tagSlice(src, e, page.byteCounts, first, n);
    for (let k = 0; k < n; k++) {
      const i = first + k;
      const end = offs[k] + cnts[k];
      if (cnts[k] > 0 && end > src.size) {
        throw bad(
          src.path,
          `${at}: ${what} ${i} spans bytes [${offs[k]}, ${end}) but the file has ${src.size} ` +
            "(truncated, or a header that lies about its size)",
        );
      }
      if (page.compression === COMPRESSION.none) {
        const rows = page.tiled
          ? page.chunkHeight
          : Math.min(page.chunkHeight, page.height - i * page.chunkHeight);
        const need = page.chunkWidth * rows * pixelBytes;
        if (cnts[k] < need) {
          throw bad(
            src.path,
            `${at}: uncompressed ${what} ${i} has ${cnts[k]} bytes, needs ${need} ` +
              `(${page.chunkWidth}x${rows} pixels of ${pixelBytes} bytes)`,
          );
        }
      }
    }
  }
}

/** Values [first, first + n) of an array tag. */
export async function tagSlice(
  src: ByteSource,
  e: Endian,
  t: TagArray,
  first: number,
  n: number,
): Promise<Float64Array> {
  const out = new Float64Array(n);
  if (t.inline) {
    for (let k = 0; k < n; k++) out[k] = t.inline[first + k];
    return out;
  }
  const size = TYPE_SIZE[t.type];
  const buf = await src.read(t.at + first * size, n * size);
  for (let k = 0; k < n; k++) out[k] = e.uint(buf, k * size, t.type);
  return out;
}
