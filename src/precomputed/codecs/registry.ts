/**
 * Chunk codecs keyed by the `encoding` name of the info file (architecture.md §6.3 item 3), so
 * the volume code never switches on encodings. `raw` is built in; other encodings register
 * themselves with `registerCodec` from their own modules.
 */

import { VoxportError } from "../../errors.js";
import type { Block, DataType, Shape4 } from "../../ops/array.js";
import type { Encoding, ScaleInfo } from "../types.js";
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
  /** Encode one chunk; `block.shape` is the chunk's clipped shape with channels. */
  encode(block: Block, scale: ScaleInfo): Promise<Uint8Array>;
  /**
   * Decode one chunk (already gunzipped) of the expected clipped `shape`. Must throw
   * VoxportError("CODEC") stating expected versus actual when the bytes do not fit the shape.
   */
  decode(bytes: Uint8Array, shape: Shape4, dtype: DataType, scale: ScaleInfo): Promise<Block>;
}

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

registerCodec(rawCodec);
