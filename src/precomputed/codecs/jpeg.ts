/**
 * The `jpeg` chunk encoding (precomputed-format.md §3.2) through sharp (libvips + mozjpeg's
 * libjpeg). uint8 only; 1 channel is written as a 1-component greyscale JPEG (NG rejects a
 * component count that differs from num_channels), 3 channels as YCbCr. Lossy: not for labels.
 */
import sharp, { type OutputInfo } from "sharp";
import { VoxportError } from "../../errors.js";
import { type Block, makeBlock, type Shape4 } from "../../ops/array.js";
import { type Box, boxShape } from "../../ops/bbox.js";
import { copyBox } from "../../ops/copy.js";
import { findSof, type Regrouped, regroupBlocks, setJpegSize } from "./jpeg-blocks.js";
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
  /**
   * Optimised Huffman tables (a second pass over the coefficients). Default false, as
   * libjpeg-turbo, PIL (CloudVolume) and TensorStore: on EM-like chunks it saves ~5% of the
   * bytes for ~60% more encode CPU (bench/codecs.ts, 64³ uint8 chunks at q85).
   */
  optimiseCoding?: boolean;
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
  const i = findSof(bytes);
  if (i < 0) throw new VoxportError("CODEC", "jpeg: no frame header (SOF) found");
  return {
    precision: bytes[i + 4],
    height: (bytes[i + 5] << 8) | bytes[i + 6],
    width: (bytes[i + 7] << 8) | bytes[i + 8],
    components: bytes[i + 9],
  };
}

/** Check dtype, channels, quality and size; returns the image size of a chunk of `shape`. */
function checkEncode(
  dtype: string,
  shape: Shape4,
  quality: number,
): { width: number; height: number } {
  const channels = shape[3];
  if (dtype !== "uint8" || (channels !== 1 && channels !== 3)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `jpeg: needs uint8 with 1 or 3 channels, got ${dtype} with ${channels}`,
    );
  }
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `jpeg: quality must be an integer in [1, 100], got ${quality}`,
    );
  }
  const { width, height } = imageSize(shape);
  if (width > JPEG_MAX_SIDE || height > JPEG_MAX_SIDE) {
    throw new VoxportError(
      "UNSUPPORTED",
      `jpeg: image ${width}x${height} for chunk [${shape}] exceeds the JPEG limit of ${JPEG_MAX_SIDE} per side`,
    );
  }
  return { width, height };
}

/**
 * JPEG of interleaved `image.pixels`. For a regrouped image (jpeg-blocks.ts), `size` is the
 * chunk image's own size, written back into the frame header.
 */
async function sharpJpeg(
  image: Regrouped,
  channels: number,
  quality: number,
  options: JpegEncodeOptions,
  size?: { width: number; height: number },
): Promise<Uint8Array> {
  try {
    const out = await sharp(image.pixels, {
      raw: { width: image.width, height: image.height, channels: channels as 1 | 3 },
    })
      .toColourspace(channels === 1 ? "b-w" : "srgb")
      .jpeg({
        quality,
        chromaSubsampling: options.chromaSubsampling ?? "4:2:0",
        progressive: options.progressive ?? false,
        optimiseCoding: options.optimiseCoding ?? false,
      })
      .toBuffer();
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    if (size) setJpegSize(bytes, size.width, size.height);
    return bytes;
  } catch (e) {
    throw sharpError("jpeg", "encode", e);
  }
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
  const size = checkEncode(block.dtype, block.shape, quality);
  checkBlock("jpeg", block, Uint8Array);
  const channels = block.shape[3];
  const pixels = interleave(block.data as Uint8Array, channels);
  // Greyscale baseline: encode the same block sequence as a near-square image, which libvips
  // does in about half the CPU, then restore the size in the header (jpeg-blocks.ts).
  const regrouped =
    channels === 1 && !options.progressive
      ? regroupBlocks(pixels, size.width, size.height)
      : undefined;
  if (regrouped) return sharpJpeg(regrouped, 1, quality, options, size);
  return sharpJpeg({ pixels, ...size }, channels, quality, options);
}

/**
 * `encodeJpeg` of the chunk at box `chunk` of `block` (which covers `box`): the same bytes. When
 * the greyscale regrouping applies, its rows are read from `block` in place, so the chunk is
 * copied once (regrouped) instead of twice (cut, then regrouped); otherwise it is cut out first.
 */
export async function encodeJpegRegion(
  block: Block,
  box: Box,
  chunk: Box,
  quality = 85,
  options: JpegEncodeOptions = {},
): Promise<Uint8Array> {
  const [cx, cy, cz] = boxShape(chunk);
  const shape: Shape4 = [cx, cy, cz, block.shape[3]];
  const size = checkEncode(block.dtype, shape, quality);
  const [bx, by] = block.shape;
  const [ox, oy, oz] = [0, 1, 2].map((d) => chunk.min[d] - box.min[d]);
  const regrouped =
    shape[3] === 1 && !options.progressive && block.data instanceof Uint8Array
      ? regroupBlocks(block.data, cx, cy * cz, (t) => {
          const y = t % cy;
          return ox + bx * (oy + y + by * (oz + (t - y) / cy));
        })
      : undefined;
  if (regrouped) return sharpJpeg(regrouped, 1, quality, options, size);
  const cut = makeBlock(block.dtype, shape);
  copyBox(block, box, cut, chunk);
  return encodeJpeg(cut, quality, options);
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
