import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { type Command, Option } from "commander";
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import type { Encoding } from "../precomputed/types.js";
import { DEFAULTS, type IngestOptions, prepareIngest } from "../tasks/ingest.js";
import {
  formatBytes,
  formatDuration,
  parseBytes,
  parseIntIn,
  parseRatio,
  parseVec3,
} from "./parse.js";
import { runPreparedJob } from "./run-job.js";

interface IngestFlags {
  resolution: Vec3;
  offset?: Vec3;
  type: "image" | "segmentation";
  chunkSize: Vec3;
  encoding?: Encoding;
  jpegQuality?: number;
  pngLevel?: number;
  csegBlockSize?: Vec3;
  sharded?: boolean;
  shardSpec?: string;
  shardSize?: number;
  compress: "gzip" | "none";
  gzipLevel: number;
  factors: string;
  maxScales?: number;
  memory: number;
  workers: number;
  skipEmpty?: number;
  zRegex?: string;
  overwrite?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerIngest(program: Command): void {
  program
    .command("ingest")
    .description(
      "Convert a stack of 2-D sections into a multi-resolution precomputed volume.\n\n" +
        "SOURCE is a folder of slices (PNG, TIFF, JPEG; 8/16-bit grey or RGB), a glob such as\n" +
        "'sections/*.tif', or a printf pattern such as 'sections/s%04d.png'. Slices are ordered\n" +
        "by natural sort of their names, or by --z-regex. DESTINATION is a folder, file://,\n" +
        "or mem:// URL.\n\n" +
        "The run is resumable: interrupt it and rerun the same command to finish it. The\n" +
        "dataset's info file is written last, so Neuroglancer never sees a half-built volume.",
    )
    .argument("<source>", "folder, glob or printf pattern of section images")
    .argument("<destination>", "where the precomputed dataset goes (path or URL)")
    .requiredOption(
      "-r, --resolution <x,y,z>",
      "voxel size in nanometres, e.g. 4,4,40",
      parseVec3("--resolution", { positive: true }),
    )
    .option(
      "--offset <x,y,z>",
      "voxel_offset of the full-resolution scale",
      parseVec3("--offset", { integer: true }),
    )
    .addOption(
      new Option("-t, --type <type>", "layer type")
        .choices(["image", "segmentation"])
        .default("image"),
    )
    .option(
      "--chunk-size <x,y,z>",
      "chunk size in voxels",
      parseVec3("--chunk-size", { integer: true, positive: true }),
      DEFAULTS.chunkSize,
    )
    .addOption(
      new Option(
        "--encoding <name>",
        "chunk encoding (default raw; compressed_segmentation for uint32/uint64 segmentation)",
      ).choices(["raw", "jpeg", "png", "compressed_segmentation"]),
    )
    .option("--jpeg-quality <n>", "jpeg quality 1-100", parseIntIn("--jpeg-quality", 1, 100), 85)
    .option("--png-level <n>", "png zlib level 0-9", parseIntIn("--png-level", 0, 9))
    .option(
      "--cseg-block-size <x,y,z>",
      "compressed_segmentation block size",
      parseVec3("--cseg-block-size", { integer: true, positive: true }),
    )
    .option(
      "--sharded",
      "write every scale as neuroglancer_uint64_sharded_v1 shards (few large files)",
    )
    .option(
      "--shard-spec <json>",
      "explicit sharding spec: JSON object (every scale) or array (one per scale), or @file.json",
    )
    .option(
      "--shard-size <size>",
      "target uncompressed bytes per shard (default: a quarter of a task's memory share)",
      parseBytes,
    )
    .addOption(
      new Option(
        "--compress <how>",
        "transfer compression of raw chunks (gzip: .gz files locally, Content-Encoding on object stores)",
      )
        .choices(["gzip", "none"])
        .default("gzip"),
    )
    .option(
      "--gzip-level <n>",
      "gzip level 1-9",
      parseIntIn("--gzip-level", 1, 9),
      DEFAULTS.gzipLevel,
    )
    .option(
      "--factors <auto|x,y,z>",
      "downsampling factor per level; auto moves toward isotropic voxels",
      "auto",
    )
    .option(
      "--max-scales <n>",
      "at most this many scales, the full resolution included",
      parseIntIn("--max-scales", 1, 32),
    )
    .option(
      "--memory <size>",
      "memory budget for all workers together, sets the task size (e.g. 2GiB)",
      parseBytes,
      DEFAULTS.memoryBytes,
    )
    .option(
      "-w, --workers <n>",
      "worker threads (0 = run on the main thread)",
      parseIntIn("--workers", 0, 256),
      Math.min(availableParallelism(), 8),
    )
    .option(
      "--skip-empty <ratio>",
      "do not write chunks whose nonzero fraction is below RATIO",
      parseRatio,
    )
    .option(
      "--z-regex <regex>",
      "take z from this regex's capture group (or named group z) in each file name",
    )
    .option("--overwrite", "replace a different dataset or unfinished job at the destination")
    .option("--dry-run", "print the plan and exit without writing")
    .option("--json", "print the final summary as JSON on stdout")
    .action(async (source: string, destination: string, flags: IngestFlags) => {
      let factors: IngestOptions["factors"] = "auto";
      if (flags.factors !== "auto")
        factors = parseVec3("--factors", { integer: true, positive: true })(flags.factors);
      const prepared = await prepareIngest({
        source,
        destination,
        resolution: flags.resolution,
        offset: flags.offset,
        type: flags.type,
        chunkSize: flags.chunkSize,
        encoding: flags.encoding,
        jpegQuality: flags.jpegQuality,
        pngLevel: flags.pngLevel,
        csegBlockSize: flags.csegBlockSize,
        sharded: flags.sharded,
        shardSpec: flags.shardSpec === undefined ? undefined : await readShardSpec(flags.shardSpec),
        shardBytes: flags.shardSize,
        compress: flags.compress,
        gzipLevel: flags.gzipLevel,
        factors,
        maxScales: flags.maxScales,
        memoryBytes: flags.memory,
        workers: flags.workers,
        skipEmptyRatio: flags.skipEmpty,
        zRegex: flags.zRegex,
        overwrite: flags.overwrite,
      });
      await runPreparedJob(prepared, {
        verb: "ingest",
        destination,
        dryRun: flags.dryRun,
        json: flags.json,
      });
    });
}

export async function readShardSpec(arg: string): Promise<unknown> {
  const text = arg.startsWith("@") ? await readFile(arg.slice(1), "utf8") : arg;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--shard-spec${arg.startsWith("@") ? ` ${arg.slice(1)}` : ""}: not valid JSON (${(e as Error).message})`,
    );
  }
}
