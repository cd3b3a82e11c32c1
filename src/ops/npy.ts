import type { Block, DataType } from "./array.js";
import { asBytes } from "./array.js";

/** NumPy .npy (format 1.0) for a Block: shape (x, y, z, c) in Fortran order, which is exactly
 * the Block's memory layout, so `numpy.load` gives arr[x, y, z, c] like CloudVolume does. */
const DESCR: Record<DataType, string> = {
  uint8: "|u1",
  int8: "|i1",
  uint16: "<u2",
  int16: "<i2",
  uint32: "<u4",
  int32: "<i4",
  uint64: "<u8",
  float32: "<f4",
};

export function encodeNpy(block: Block): Uint8Array {
  const shape = block.shape.join(", ");
  let header = `{'descr': '${DESCR[block.dtype]}', 'fortran_order': True, 'shape': (${shape}), }`;
  // Magic (6) + version (2) + header length (2) + header + '\n', padded to a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, " ") + "\n";
  const out = new Uint8Array(total + block.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(asBytes(block.data), total);
  return out;
}
