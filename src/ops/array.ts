/**
 * In-memory voxel blocks. Layout is Neuroglancer's: a 4-D array [x, y, z, channel] in Fortran
 * order (x fastest, channels planar and slowest), little-endian — the same bytes as a `raw`
 * precomputed chunk, so a block's `data` buffer can be written out without reordering.
 */
export type DataType =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "uint64"
  | "float32";

export const DATA_TYPES: readonly DataType[] = [
  "uint8",
  "int8",
  "uint16",
  "int16",
  "uint32",
  "int32",
  "uint64",
  "float32",
];

export type TypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | Float32Array;

export type Vec3 = [number, number, number];
/** [x, y, z, channels] */
export type Shape4 = [number, number, number, number];

export interface Block {
  dtype: DataType;
  shape: Shape4;
  data: TypedArray;
}

export function bytesPerVoxel(dtype: DataType): number {
  switch (dtype) {
    case "uint8":
    case "int8":
      return 1;
    case "uint16":
    case "int16":
      return 2;
    case "uint32":
    case "int32":
    case "float32":
      return 4;
    case "uint64":
      return 8;
  }
}

export function allocate(dtype: DataType, length: number): TypedArray {
  switch (dtype) {
    case "uint8":
      return new Uint8Array(length);
    case "int8":
      return new Int8Array(length);
    case "uint16":
      return new Uint16Array(length);
    case "int16":
      return new Int16Array(length);
    case "uint32":
      return new Uint32Array(length);
    case "int32":
      return new Int32Array(length);
    case "uint64":
      return new BigUint64Array(length);
    case "float32":
      return new Float32Array(length);
  }
}

/** View `bytes` (little-endian, as stored) as a typed array of `dtype`, copying only if unaligned. */
export function viewAs(dtype: DataType, bytes: Uint8Array): TypedArray {
  const bpv = bytesPerVoxel(dtype);
  if (bytes.byteLength % bpv !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  }
  const src = bytes.byteOffset % bpv === 0 ? bytes : bytes.slice();
  const n = src.byteLength / bpv;
  switch (dtype) {
    case "uint8":
      return new Uint8Array(src.buffer, src.byteOffset, n);
    case "int8":
      return new Int8Array(src.buffer, src.byteOffset, n);
    case "uint16":
      return new Uint16Array(src.buffer, src.byteOffset, n);
    case "int16":
      return new Int16Array(src.buffer, src.byteOffset, n);
    case "uint32":
      return new Uint32Array(src.buffer, src.byteOffset, n);
    case "int32":
      return new Int32Array(src.buffer, src.byteOffset, n);
    case "uint64":
      return new BigUint64Array(src.buffer, src.byteOffset, n);
    case "float32":
      return new Float32Array(src.buffer, src.byteOffset, n);
  }
}

export function asBytes(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function makeBlock(dtype: DataType, shape: Shape4): Block {
  return { dtype, shape, data: allocate(dtype, shape[0] * shape[1] * shape[2] * shape[3]) };
}

export function voxelCount(shape: Shape4 | Vec3): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}
