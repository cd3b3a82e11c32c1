/**
 * The `compressed_segmentation` chunk encoding (precomputed-format.md §3.3) for uint32 and
 * uint64 blocks. Re-exports only.
 */
export { decodeCompressedSegmentation } from "./compressed-segmentation-decode.js";
export {
  encodeCompressedSegmentation,
  encodeCompressedSegmentationRegion,
} from "./compressed-segmentation-encode.js";
