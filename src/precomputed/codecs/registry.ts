/**
 * Chunk codecs keyed by the `encoding` name of the info file (architecture.md §6.3 item 3), so
 * the volume code never switches on encodings. Every encoding voxport writes — `raw`, `jpeg`,
 * `png`, `compressed_segmentation` — is registered when this module loads, so `getCodec("png")`
 * works wherever the registry is imported; jpeg/png load sharp lazily on first use. Other
 * encodings (`compresso`, `jxl`) may be added with `registerCodec`.
 */

import { VoxportError } from "../../errors.js";
import type { Block, DataType, Shape4 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import type { Encoding, ScaleInfo } from "../types.js";
import { compressedSegmentationCodec } from "./compressed-segmentation-codec.js";
import { jpegCodec } from "./jpeg-codec.js";
import { pngCodec } from "./png-codec.js";
import { rawCodec } from "./raw.js";

export interface ChunkCodec {
  /** The info file's `encoding` value this codec reads and writes. */
  readonly encoding: Encoding;
  /** Content-Type to store chunks with (CV's choice, §3.5). */
  readonly contentType: string;
  /**
   * Whether chunks of this codec are worth HTTP/file gzip by default: true for raw and cseg,
   * false for jpeg/png, which are already compressed (CV `should_compress`, §3.5).
   */
  readonly transferGzip: boolean;
  /**
   * Check, before any data moves, that this codec can hold `dtype` × `channels` with the scale's
   * parameters (block size; for `encode` also quality/level). Throws VoxportError
   * ("UNSUPPORTED" or "INVALID_INFO"); `resolveCodec` adds the scale key. Optional.
   */
  validate?(scale: ScaleInfo, dtype: DataType, channels: number, direction: CodecDirection): void;
  /** Encode one chunk; `block.shape` is the chunk's clipped shape with channels. */
  encode(block: Block, scale: ScaleInfo): Promise<Uint8Array>;
  /**
   * Optional: encode the chunk at box `chunk` of `block` (which covers `box`), reading `block` in
   * place. The same bytes as cutting the chunk out and calling `encode`, for codecs that would
   * otherwise copy the chunk a second time anyway (jpeg regroups its rows).
   */
  encodeRegion?(block: Block, box: Box, chunk: Box, scale: ScaleInfo): Promise<Uint8Array>;
  /**
   * Decode one chunk (already gunzipped) of the expected clipped `shape`. Must throw
   * VoxportError("CODEC") stating expected versus actual when the bytes do not fit the shape.
   */
  decode(bytes: Uint8Array, shape: Shape4, dtype: DataType, scale: ScaleInfo): Promise<Block>;
}

export type CodecDirection = "encode" | "decode";

const codecs = new Map<string, ChunkCodec>();

/**
 * Make `codec` available under its encoding name. Registering a name twice is a bug (two modules
 * disagree about who owns an encoding), so it throws unless `replace` is set (tests, overrides).
 */
export function registerCodec(codec: ChunkCodec, options: { replace?: boolean } = {}): void {
  if (codecs.has(codec.encoding) && !options.replace) {
    throw new VoxportError(
      "CONFLICT",
      `a codec for encoding "${codec.encoding}" is already registered`,
    );
  }
  codecs.set(codec.encoding, codec);
}

export function knownEncodings(): string[] {
  return [...codecs.keys()].sort();
}

export function getCodec(encoding: string): ChunkCodec {
  const codec = codecs.get(encoding);
  if (!codec) {
    throw new VoxportError(
      "UNSUPPORTED",
      `no codec for encoding "${encoding}" (known: ${knownEncodings().join(", ")})`,
    );
  }
  return codec;
}

/**
 * The codec for `scale.encoding`, validated for `dtype` × `channels` and `direction`. Error
 * messages start with the scale's location: `<where>/<scale key>: ` (e.g. the dataset URL), or
 * `scale <key>: ` without `where`.
 * @throws VoxportError("UNSUPPORTED") for an encoding without a codec or a dtype/channel count it
 *   cannot hold; ("INVALID_INFO") for bad codec parameters in the scale
 */
export function resolveCodec(
  scale: ScaleInfo,
  dtype: DataType,
  channels: number,
  direction: CodecDirection,
  where?: string,
): ChunkCodec {
  try {
    const codec = getCodec(scale.encoding);
    codec.validate?.(scale, dtype, channels, direction);
    return codec;
  } catch (e) {
    if (!(e instanceof VoxportError)) throw e;
    const at = where === undefined ? `scale ${scale.key}` : `${where}/${scale.key}`;
    throw new VoxportError(e.code, `${at}: ${e.message}`, { cause: e });
  }
}

registerCodec(rawCodec);
registerCodec(jpegCodec);
registerCodec(pngCodec);
registerCodec(compressedSegmentationCodec);
