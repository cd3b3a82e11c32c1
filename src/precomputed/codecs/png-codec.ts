/**
 * The `png` ChunkCodec: wraps encodePng/decodePng (png.ts). sharp is loaded on first use.
 */
import type { Block, DataType, Shape4 } from "../../ops/array.js";
import type { ScaleInfo } from "../types.js";
import { requireDtypeChannels, requireIntIn } from "./codec-checks.js";
import type { ChunkCodec, CodecDirection } from "./registry.js";

/** zlib level when the scale has no `png_level` (CloudVolume uses 9; 6 is much faster). */
export const DEFAULT_PNG_LEVEL = 6;

let loaded: Promise<typeof import("./png.js")> | undefined;
const load = () => {
  loaded ??= import("./png.js");
  return loaded;
};

export const pngCodec: ChunkCodec = {
  encoding: "png",
  contentType: "image/png",
  transferGzip: false,

  validate(scale: ScaleInfo, dtype: DataType, channels: number, direction: CodecDirection): void {
    requireDtypeChannels(scale, dtype, channels, ["uint8", "uint16"], [1, 2, 3, 4]);
    if (direction === "encode") {
      requireIntIn("png_level", scale.png_level ?? DEFAULT_PNG_LEVEL, 0, 9);
    }
  },

  async encode(block: Block, scale: ScaleInfo): Promise<Uint8Array> {
    const { encodePng } = await load();
    return encodePng(block, scale.png_level ?? DEFAULT_PNG_LEVEL);
  },

  async decode(bytes: Uint8Array, shape: Shape4, dtype: DataType): Promise<Block> {
    const { decodePng } = await load();
    return decodePng(bytes, shape, dtype);
  },
};
