/**
 * The `jpeg` chunk encoding (precomputed-format.md §3.2) through sharp (libvips + mozjpeg's
 * libjpeg). uint8 only; 1 channel is written as a 1-component greyscale JPEG (NG rejects a
 * component count that differs from num_channels), 3 channels as YCbCr. Lossy: not for labels.
 */
import sharp, { type OutputInfo } from "sharp";
import { VoxportError } from "../../errors.js";
import type { Block, Shape4 } from "../../ops/array.js";
import {
  checkBlock,
  checkDecoded,
  deinterleave,
  imageSize,
  interleave,
  sampleBits,
  sharpError,
} from "./jpeg-png-common.js";

export interface JpegEncodeOptions {
  /** Default "4:2:0", as libjpeg/PIL; "4:4:4" keeps full colour resolution. RGB only. */
  chromaSubsampling?: "4:2:0" | "4:4:4";
  /** Progressive scans; default false (baseline). */
  progressive?: boolean;
}

/** Frame header of a JPEG (the first SOFn marker). */
export interface JpegHeader {
  width: number;
  height: number;
  components: number;
  precision: number;
}

const JPEG_MAX_SIDE = 65535;

/**
 * Read the frame header (SOF0–SOF15 except DHT/JPG/DAC) of a JPEG stream.
 * @throws VoxportError("CODEC") if the bytes are not a JPEG or have no frame header
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    throw new VoxportError("CODEC", "jpeg: not a JPEG stream (no SOI marker)");
  }
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) break;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    const isSof =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 10 > bytes.length) break;
      return {
        precision: bytes[i + 4],
        height: (bytes[i + 5] << 8) | bytes[i + 6],
        width: (bytes[i + 7] << 8) | bytes[i + 8],
        components: bytes[i + 9],
      };
    }
    if (marker === 0xda || marker === 0xd9) break; // scan data or end before any frame header
    i += 2 + length;
  }
  throw new VoxportError("CODEC", "jpeg: no frame header (SOF) found");
}

/**
 * Encode a uint8 block with 1 or 3 channels as a JPEG of width sx, height sy*sz.
 * @param quality 1–100 (CloudVolume default 85, TensorStore 75)
 * @throws VoxportError("UNSUPPORTED") for other dtypes/channel counts or sides over 65535;
 *   ("INVALID_ARGUMENT") for a bad quality or data; ("CODEC") if sharp fails
 */
export async function encodeJpeg(
  block: Block,
  quality = 85,
  options: JpegEncodeOptions = {},
): Promise<Uint8Array> {
  const channels = block.shape[3];
  if (block.dtype !== "uint8" || (channels !== 1 && channels !== 3)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `jpeg: needs uint8 with 1 or 3 channels, got ${block.dtype} with ${channels}`,
    );
  }
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `jpeg: quality must be an integer in [1, 100], got ${quality}`,
    );
  }
  checkBlock("jpeg", block, Uint8Array);
  const { width, height } = imageSize(block.shape);
  if (width > JPEG_MAX_SIDE || height > JPEG_MAX_SIDE) {
    throw new VoxportError(
      "UNSUPPORTED",
      `jpeg: image ${width}x${height} for chunk [${block.shape}] exceeds the JPEG limit of ${JPEG_MAX_SIDE} per side`,
    );
  }
  const pixels = interleave(block.data as Uint8Array, channels);
  try {
    const out = await sharp(pixels, { raw: { width, height, channels } })
      .toColourspace(channels === 1 ? "b-w" : "srgb")
      .jpeg({
        quality,
        chromaSubsampling: options.chromaSubsampling ?? "4:2:0",
        progressive: options.progressive ?? false,
        optimiseCoding: true,
      })
      .toBuffer();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw sharpError("jpeg", "encode", e);
  }
}

/**
 * Decode a JPEG chunk of clipped shape `shape` ([x, y, z, channels]) into a planar uint8 block.
 * @throws VoxportError("CODEC") if the image does not have the chunk's pixel count, channel
 *   count or 8-bit precision (expected vs actual in the message), or does not decode
 */
export async function decodeJpeg(bytes: Uint8Array, shape: Shape4): Promise<Block> {
  const header = readJpegHeader(bytes);
  const channels = shape[3];
  checkDecoded("jpeg", shape, 8, {
    width: header.width,
    height: header.height,
    channels: header.components,
    depth: header.precision,
  });
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { sequentialRead: true })
      .toColourspace(channels === 1 ? "b-w" : "srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw sharpError("jpeg", "decode", e);
  }
  checkDecoded("jpeg", shape, 8, {
    width: raw.info.width,
    height: raw.info.height,
    channels: raw.info.channels,
    depth: sampleBits(raw.data.byteLength, raw.info),
  });
  const pixels = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  return { dtype: "uint8", shape: [...shape], data: deinterleave(pixels, channels) };
}
