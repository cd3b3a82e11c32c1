/**
 * The `png` chunk encoding (precomputed-format.md §3.2) through sharp (libvips + libpng).
 * uint8 → 8-bit PNG, uint16 → 16-bit PNG (big-endian in the file, as PNG requires); 1–4
 * channels → grey, grey+alpha, RGB, RGBA. Lossless.
 */
import sharp, { type OutputInfo } from "sharp";
import { VoxportError } from "../../errors.js";
import type { Block, DataType, Shape4 } from "../../ops/array.js";
import {
  checkBlock,
  checkDecoded,
  deinterleave,
  imageSize,
  interleave,
  sampleBits,
  sharpError,
} from "./jpeg-png-common.js";

/** Fields of a PNG IHDR chunk, plus the channel count its colour type implies. */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** Samples per pixel after decoding; palette images decode as RGB (3), as in NG. */
  channels: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

/**
 * Read the IHDR of a PNG.
 * @throws VoxportError("CODEC") if the bytes are not a PNG
 */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  const isPng =
    bytes.length >= 26 &&
    SIGNATURE.every((b, i) => bytes[i] === b) &&
    String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) === "IHDR";
  const colorType = bytes[25];
  if (!isPng || CHANNELS_OF_COLOR_TYPE[colorType] === undefined) {
    throw new VoxportError("CODEC", "png: not a PNG stream (bad signature or IHDR)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: bytes[24],
    colorType,
    channels: CHANNELS_OF_COLOR_TYPE[colorType],
  };
}

function bitsOf(dtype: DataType): 8 | 16 {
  if (dtype === "uint8") return 8;
  if (dtype === "uint16") return 16;
  throw new VoxportError("UNSUPPORTED", `png: needs uint8 or uint16, got ${dtype}`);
}

function colourspace(channels: number, bits: 8 | 16): string {
  if (channels <= 2) return bits === 8 ? "b-w" : "grey16";
  return bits === 8 ? "srgb" : "rgb16";
}

/**
 * Encode a uint8/uint16 block with 1–4 channels as a PNG of width sx, height sy*sz.
 * @param level zlib compression level 0–9 (the scale's `png_level`; CloudVolume uses 9)
 * @throws VoxportError("UNSUPPORTED") for other dtypes or channel counts;
 *   ("INVALID_ARGUMENT") for a bad level or data; ("CODEC") if sharp fails
 */
export async function encodePng(block: Block, level = 6): Promise<Uint8Array> {
  const bits = bitsOf(block.dtype);
  const channels = block.shape[3];
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) {
    throw new VoxportError("UNSUPPORTED", `png: needs 1 to 4 channels, got ${channels}`);
  }
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `png: level must be an integer in [0, 9], got ${level}`,
    );
  }
  checkBlock("png", block, bits === 8 ? Uint8Array : Uint16Array);
  const { width, height } = imageSize(block.shape);
  // A Uint16Array input makes sharp read the raw pixels as 16-bit ("ushort").
  const pixels = interleave(block.data as Uint8Array | Uint16Array, channels);
  try {
    const out = await sharp(pixels, { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 } })
      .toColourspace(colourspace(channels, bits))
      .png({ compressionLevel: level, adaptiveFiltering: false, palette: false })
      .toBuffer();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw sharpError("png", "encode", e);
  }
}

/**
 * Decode a PNG chunk of clipped shape `shape` ([x, y, z, channels]) into a planar block.
 * @throws VoxportError("CODEC") if the image's pixel count, channel count or bit depth (8 for
 *   uint8, 16 for uint16) differs from the chunk's (expected vs actual in the message), or it
 *   does not decode; ("UNSUPPORTED") for dtypes other than uint8/uint16
 */
export async function decodePng(bytes: Uint8Array, shape: Shape4, dtype: DataType): Promise<Block> {
  const bits = bitsOf(dtype);
  const header = readPngHeader(bytes);
  const channels = shape[3];
  // Palette entries are 8-bit RGB(A) whatever the index depth.
  const depth = header.colorType === 3 ? 8 : header.bitDepth;
  checkDecoded("png", shape, bits, { ...header, depth });
  // libvips drops the alpha band when converting 8-bit grey+alpha to "b-w", so that case is
  // decoded as RGBA (grey replicated exactly) and R and A are kept.
  const greyAlpha8 = bits === 8 && channels === 2;
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let image = sharp(bytes, { sequentialRead: true }).toColourspace(
      greyAlpha8 ? "srgb" : colourspace(channels, bits),
    );
    if (header.colorType === 3) image = image.removeAlpha();
    raw = await image
      .raw({ depth: bits === 8 ? "uchar" : "ushort" })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw sharpError("png", "decode", e);
  }
  const { info } = raw;
  const rgbaForGreyAlpha = greyAlpha8 && info.channels === 4;
  checkDecoded("png", shape, bits, {
    width: info.width,
    height: info.height,
    channels: rgbaForGreyAlpha ? 2 : info.channels,
    depth: sampleBits(raw.data.byteLength, info),
  });
  const buf = raw.data.byteOffset % 2 === 0 ? raw.data : new Uint8Array(raw.data); // fresh, aligned
  if (rgbaForGreyAlpha) {
    const n = info.width * info.height;
    const data = new Uint8Array(2 * n);
    for (let i = 0; i < n; i++) {
      data[i] = buf[4 * i];
      data[n + i] = buf[4 * i + 3];
    }
    return { dtype, shape: [...shape], data };
  }
  const pixels =
    bits === 8
      ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
      : new Uint16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2);
  return { dtype, shape: [...shape], data: deinterleave(pixels, channels) };
}
