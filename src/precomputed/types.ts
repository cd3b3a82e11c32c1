import type { DataType, Vec3 } from "../ops/array.js";

/** Types of the precomputed `info` file (../shared/docs/precomputed-format.md §1, §4.1). */

export type Encoding = "raw" | "jpeg" | "png" | "compressed_segmentation" | "compresso" | "jxl";

export interface ShardingSpec {
  "@type": "neuroglancer_uint64_sharded_v1";
  preshift_bits: number;
  hash: "identity" | "murmurhash3_x86_128";
  minishard_bits: number;
  shard_bits: number;
  minishard_index_encoding: "raw" | "gzip";
  data_encoding: "raw" | "gzip";
}

export interface ScaleInfo {
  key: string;
  size: Vec3;
  /** Omitted means [0,0,0]. */
  voxel_offset?: Vec3;
  resolution: Vec3;
  chunk_sizes: Vec3[];
  encoding: Encoding;
  compressed_segmentation_block_size?: Vec3;
  sharding?: ShardingSpec;
  hidden?: boolean;
  jpeg_quality?: number;
  png_level?: number;
}

export interface PrecomputedInfo {
  "@type"?: "neuroglancer_multiscale_volume";
  type: "image" | "segmentation";
  data_type: DataType;
  num_channels: number;
  scales: ScaleInfo[];
  mesh?: string;
  skeletons?: string;
  segment_properties?: string;
}
