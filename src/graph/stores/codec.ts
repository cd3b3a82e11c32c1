/** Byte encodings shared by the graph stores: uint64 arrays little-endian, as PyChunkedGraph. */

export function u64Bytes(a: BigUint64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function bytesU64(b: Uint8Array): BigUint64Array {
  // Copy to an aligned buffer: stores hand out views at arbitrary offsets.
  const copy = new Uint8Array(b);
  return new BigUint64Array(copy.buffer, 0, copy.length >> 3);
}

export function u64Be(id: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, id, false);
  return out;
}

/** Cross edges of one node: repeated [layer u8][pairs u32 LE][2·pairs uint64 LE]. */
export function encodeCrossEdges(map: ReadonlyMap<number, BigUint64Array>): Uint8Array {
  let size = 0;
  for (const v of map.values()) size += 5 + v.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [layer, pairs] of [...map].sort((a, b) => a[0] - b[0])) {
    out[at] = layer;
    view.setUint32(at + 1, pairs.length / 2, true);
    out.set(u64Bytes(pairs), at + 5);
    at += 5 + pairs.byteLength;
  }
  return out;
}

export function decodeCrossEdges(b: Uint8Array): Map<number, BigUint64Array> {
  const map = new Map<number, BigUint64Array>();
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  while (at < b.length) {
    const layer = b[at];
    const n = view.getUint32(at + 1, true) * 2;
    map.set(layer, bytesU64(b.subarray(at + 5, at + 5 + n * 8)));
    at += 5 + n * 8;
  }
  return map;
}
