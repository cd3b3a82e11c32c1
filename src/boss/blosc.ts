import Blosc from "numcodecs/blosc";
import { VoxportError } from "../errors.js";

/**
 * Blosc frames as the BOSS cutout service takes them (`Content-Type: application/blosc`): the
 * C-order (z, y, x) voxel bytes compressed by c-blosc v1 (numcodecs' WASM build: lz4, byte
 * shuffle). That build fixes the frame's typesize at 4 whatever the dtype; the server reads the
 * uncompressed size from the 16-byte header, so only the shuffle granularity differs from
 * intern's `blosc.compress(arr, typesize=bits)` — the decompressed bytes are identical.
 */

const codec = new Blosc(5, "lz4", Blosc.SHUFFLE);

/** c-blosc v1 caps one frame at 2^31 - 1 - 16 bytes of input (BLOSC_MAX_BUFFERSIZE). */
export const BLOSC_MAX_BYTES = 2 ** 31 - 1 - 16;

export function asBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export async function bloscEncode(data: ArrayBufferView): Promise<Uint8Array> {
  if (data.byteLength > BLOSC_MAX_BYTES) {
    throw new VoxportError("CODEC", `blosc: ${data.byteLength} bytes exceed one frame's limit`);
  }
  return codec.encode(asBytes(data));
}

export interface BloscHeader {
  version: number;
  flags: number;
  typesize: number;
  /** Uncompressed bytes. */
  nbytes: number;
  blocksize: number;
  /** Frame bytes, header included. */
  cbytes: number;
}

/** The 16-byte c-blosc v1 header (little endian), checked against the frame's length. */
export function bloscHeader(frame: Uint8Array, where = "blosc frame"): BloscHeader {
  if (frame.byteLength < 16) {
    throw new VoxportError("CODEC", `${where}: ${frame.byteLength} bytes, shorter than a header`);
  }
  const v = new DataView(frame.buffer, frame.byteOffset, 16);
  const h: BloscHeader = {
    version: v.getUint8(0),
    flags: v.getUint8(2),
    typesize: v.getUint8(3),
    nbytes: v.getUint32(4, true),
    blocksize: v.getUint32(8, true),
    cbytes: v.getUint32(12, true),
  };
  if (h.version === 0 || h.version > 4 || h.cbytes !== frame.byteLength) {
    throw new VoxportError(
      "CODEC",
      `${where}: not a c-blosc v1 frame (version ${h.version}, header says ${h.cbytes} bytes, got ${frame.byteLength})`,
    );
  }
  return h;
}

/** Decompress a frame, checking its size against `expectBytes` when given. */
export async function bloscDecode(
  frame: Uint8Array,
  expectBytes?: number,
  where = "blosc frame",
): Promise<Uint8Array> {
  const h = bloscHeader(frame, where);
  if (expectBytes !== undefined && h.nbytes !== expectBytes) {
    throw new VoxportError(
      "CODEC",
      `${where}: holds ${h.nbytes} bytes uncompressed, expected ${expectBytes}`,
    );
  }
  const out = await codec.decode(frame);
  if (out.byteLength !== h.nbytes) {
    throw new VoxportError("CODEC", `${where}: decoded ${out.byteLength} of ${h.nbytes} bytes`);
  }
  return out;
}
