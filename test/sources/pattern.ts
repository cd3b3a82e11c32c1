import { type Block, type DataType, makeBlock } from "../../src/ops/array.js";

/** A block whose values exercise every bit of the type (and negative values when signed). */
export function pattern(dtype: DataType, shape: [number, number, number, number]): Block {
  const b = makeBlock(dtype, shape);
  const n = b.data.length;
  for (let i = 0; i < n; i++) {
    const h = Math.imul(i + 1, 2654435761) >>> 0;
    const d = b.data as Uint32Array;
    switch (dtype) {
      case "uint8":
      case "int8":
        d[i] = h >>> 24;
        break;
      case "uint16":
      case "int16":
        d[i] = h >>> 16;
        break;
      case "float32":
        (b.data as Float32Array)[i] = (h / 2 ** 32 - 0.5) * 1e4;
        break;
      default:
        d[i] = h;
    }
  }
  // Typed-array assignment wraps: int8 gets -128..127 etc.
  return b;
}
