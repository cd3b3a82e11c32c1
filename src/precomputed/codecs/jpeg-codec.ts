/**
 * The `jpeg` ChunkCodec: wraps encodeJpeg/decodeJpeg (jpeg.ts). sharp, a native module, is
 * loaded on first use, so importing the registry stays cheap for processes that never touch jpeg.
 */
import type { Block, DataType, Shape4 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import type { ScaleInfo } from "../types.js";
import { requireDtypeChannels, requireIntIn } from "./codec-checks.js";
import type { ChunkCodec, CodecDirection } from "./registry.js";

/** CloudVolume's default (§3.2); TensorStore uses 75. */
export const DEFAULT_JPEG_QUALITY = 85;

let loaded: Promise<typeof import("./jpeg.js")> | undefined;
const load = () => {
  loaded ??= import("./jpeg.js");
  return loaded;
};

export const jpegCodec: ChunkCodec = {
  encoding: "jpeg",
  contentType: "image/jpeg",
  transferGzip: false,

  validate(scale: ScaleInfo, dtype: DataType, channels: number, direction: CodecDirection): void {
    requireDtypeChannels(scale, dtype, channels, ["uint8"], [1, 3]);
    if (direction === "encode") {
      requireIntIn("jpeg_quality", scale.jpeg_quality ?? DEFAULT_JPEG_QUALITY, 1, 100);
    }
  },

  async encode(block: Block, scale: ScaleInfo): Promise<Uint8Array> {
    const { encodeJpeg } = await load();
    return encodeJpeg(block, scale.jpeg_quality ?? DEFAULT_JPEG_QUALITY);
  },

  async encodeRegion(block: Block, box: Box, chunk: Box, scale: ScaleInfo): Promise<Uint8Array> {
    const { encodeJpegRegion } = await load();
    return encodeJpegRegion(block, box, chunk, scale.jpeg_quality ?? DEFAULT_JPEG_QUALITY);
  },

  async decode(bytes: Uint8Array, shape: Shape4, _dtype: DataType): Promise<Block> {
    const { decodeJpeg } = await load();
    return decodeJpeg(bytes, shape);
  },
};
