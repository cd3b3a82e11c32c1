/**
 * Pixel layout shared by the jpeg and png chunk encodings (precomputed-format.md §3.2): the chunk
 * is one image of width `sx` and height `sy*sz`; its pixels, read row by row, are the Fortran
 * [x,y,z] flattening of the chunk, and each pixel interleaves the channels. Blocks are planar, so
 * encoding interleaves and decoding de-interleaves (a no-op for one channel).
 */
import { VoxportError } from "../../errors.js";
import type { Block, Shape4 } from "../../ops/array.js";

export type ImageArray = Uint8Array | Uint16Array;

/** Image width and height for a chunk of clipped shape `shape`. */
export function imageSize(shape: Shape4): { width: number; height: number } {
  return { width: shape[0], height: shape[1] * shape[2] };
}

function allocLike<T extends ImageArray>(data: T): T {
  return (
    data instanceof Uint16Array ? new Uint16Array(data.length) : new Uint8Array(data.length)
  ) as T;
}

/** Planar [x,y,z,c] samples → interleaved pixels. Returns `data` itself for one channel. */
export function interleave<T extends ImageArray>(data: T, channels: number): T {
  if (channels === 1) return data;
  const n = data.length / channels;
  const out = allocLike(data);
  for (let c = 0; c < channels; c++) {
    for (let i = 0, o = c, s = c * n; i < n; i++, o += channels, s++) out[o] = data[s];
  }
  return out;
}

/** Interleaved pixels → planar [x,y,z,c]. Returns `data` itself for one channel. */
export function deinterleave<T extends ImageArray>(data: T, channels: number): T {
  if (channels === 1) return data;
  const n = data.length / channels;
  const out = allocLike(data);
  for (let c = 0; c < channels; c++) {
    for (let i = 0, s = c, o = c * n; i < n; i++, s += channels, o++) out[o] = data[s];
  }
  return out;
}

/** Check a block's data against its dtype and shape before encoding. */
export function checkBlock(
  codec: string,
  block: Block,
  array: typeof Uint8Array | typeof Uint16Array,
): void {
  const [sx, sy, sz, nc] = block.shape;
  const n = sx * sy * sz * nc;
  if (!(block.data instanceof array) || block.data.length !== n || n === 0) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${codec}: ${block.dtype} block [${block.shape}] needs ${n} values in a ${array.name}, got ${block.data.length} in a ${block.data.constructor.name}`,
    );
  }
}

export interface DecodedImage {
  width: number;
  height: number;
  channels: number;
  /** Bits per sample. */
  depth: number;
}

/**
 * Compare what a decoder found with what the chunk needs: the same number of pixels (any
 * factorisation, as NG accepts), channels and bit depth.
 * @throws VoxportError("CODEC") stating expected versus actual
 */
export function checkDecoded(codec: string, shape: Shape4, depth: number, got: DecodedImage): void {
  const [sx, sy, sz, nc] = shape;
  if (got.width * got.height !== sx * sy * sz || got.channels !== nc || got.depth !== depth) {
    throw new VoxportError(
      "CODEC",
      `${codec}: expected ${sx}x${sy * sz} (${sx * sy * sz} pixels), ${nc} channel(s), ${depth}-bit for chunk [${shape}]; image is ${got.width}x${got.height} (${got.width * got.height} pixels), ${got.channels} channel(s), ${got.depth}-bit`,
    );
  }
}

/** Bits per sample of a decoded raw buffer (sharp's typings omit its `depth` field). */
export function sampleBits(
  byteLength: number,
  info: { width: number; height: number; channels: number },
): number {
  return (8 * byteLength) / (info.width * info.height * info.channels);
}

/** Wrap a sharp failure as a CODEC error. */
export function sharpError(
  codec: string,
  direction: "encode" | "decode",
  e: unknown,
): VoxportError {
  if (e instanceof VoxportError) return e;
  return new VoxportError("CODEC", `${codec} ${direction}: ${(e as Error).message}`, { cause: e });
}
