import type { Vec3 } from "../ops/array.js";
import { bytesPerVoxel } from "../ops/array.js";
import { parseInfo } from "../precomputed/info.js";
import type { PrecomputedInfo, ScaleInfo } from "../precomputed/types.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openStore } from "../storage/registry.js";
import { DEFAULTS, type EncodingOptions, type RunOptions } from "./ingest.js";
import type { IngestJob } from "./job.js";
import { applySharding, checkEncoding, type ShardingOptions } from "./layout.js";
import { countStageTasks, planStages } from "./plan.js";
import type { PreparedJob } from "./run.js";

export interface ConvertOptions extends RunOptions, EncodingOptions, ShardingOptions {
  source: string;
  destination: string;
  /** Store unsharded, even if the source is sharded. */
  unsharded?: boolean;
  /** New chunk size for every scale (default: keep each scale's). */
  chunkSize?: Vec3;
}

/**
 * Plan a conversion of an existing precomputed dataset: same scales (keys, sizes, offsets,
 * resolutions), stored with another encoding, chunk size or sharding. Each scale is copied from
 * the same scale of the source, task by task, so memory stays bounded by the task box.
 */
export async function prepareConvert(opts: ConvertOptions): Promise<PreparedJob> {
  const src = await PrecomputedVolume.open(openStore(opts.source));
  const data = {
    dtype: src.info.data_type,
    channels: src.info.num_channels,
    description: src.infoUrl,
  };
  const workers = Math.max(0, Math.floor(opts.workers ?? DEFAULTS.workers));
  const memoryBytes = opts.memoryBytes ?? DEFAULTS.memoryBytes;
  const rechunk = opts.chunkSize !== undefined;
  const scales: ScaleInfo[] = src.info.scales.map((s) => {
    const encoding = opts.encoding ?? s.encoding;
    checkEncoding(encoding, data, src.info.type);
    const out: ScaleInfo = {
      key: s.key,
      size: s.size,
      voxel_offset: s.voxel_offset,
      resolution: s.resolution,
      chunk_sizes: [opts.chunkSize ?? s.chunk_sizes[0]],
      encoding,
    };
    if (encoding === "compressed_segmentation") {
      out.compressed_segmentation_block_size = opts.csegBlockSize ??
        (s.encoding === "compressed_segmentation"
          ? s.compressed_segmentation_block_size
          : undefined) ?? [8, 8, 8];
    }
    if (encoding === "jpeg") out.jpeg_quality = opts.jpegQuality ?? s.jpeg_quality ?? 85;
    if (encoding === "png" && (opts.pngLevel ?? s.png_level) !== undefined) {
      out.png_level = opts.pngLevel ?? s.png_level;
    }
    // Keep the source's sharding when nothing about the grid or the encoding changes.
    if (s.sharding && !opts.unsharded && !rechunk && encoding === s.encoding)
      out.sharding = s.sharding;
    return out;
  });
  if (!opts.unsharded)
    applySharding(scales, opts, data, { memoryBytes, workers: Math.max(1, workers) });
  const info: PrecomputedInfo = parseInfo(
    { ...src.info, "@type": "neuroglancer_multiscale_volume", scales },
    "the converted info",
  );
  const plan = planStages(info.scales, {
    memoryBytes,
    workers: Math.max(1, workers),
    bytesPerVoxel: bytesPerVoxel(data.dtype),
    channels: data.channels,
    copyScales: true,
  });
  const job: IngestJob = {
    version: 1,
    source: { kind: "precomputed", input: opts.source },
    destination: opts.destination,
    info,
    offset: info.scales[0].voxel_offset ?? [0, 0, 0],
    compress: opts.compress ?? "gzip",
    gzipLevel: opts.gzipLevel ?? DEFAULTS.gzipLevel,
    skipEmptyRatio: 0,
    downsample: info.type === "segmentation" ? "mode" : "average",
    stages: plan.stages,
  };
  return {
    job,
    sourceDescription: src.infoUrl.replace(/\/info$/, ""),
    sourceSize: info.scales[0].size,
    workers,
    memoryBytes,
    taskBudget: plan.taskBudget,
    overBudget: plan.overBudget,
    taskCounts: plan.stages.map((s) => countStageTasks(info.scales, s)),
    overwrite: opts.overwrite ?? false,
  };
}
