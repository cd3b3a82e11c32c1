import { availableParallelism } from "node:os";
import { type Command, Option } from "commander";
import type { Vec3 } from "../ops/array.js";
import type { Encoding } from "../precomputed/types.js";
import { prepareConvert } from "../tasks/convert.js";
import { DEFAULTS } from "../tasks/ingest.js";
import { readShardSpec } from "./ingest.js";
import { parseBytes, parseIntIn, parseVec3 } from "./parse.js";
import { runPreparedJob } from "./run-job.js";

interface ConvertFlags {
  encoding?: Encoding;
  jpegQuality?: number;
  pngLevel?: number;
  csegBlockSize?: Vec3;
  chunkSize?: Vec3;
  sharded?: boolean;
  unsharded?: boolean;
  shardSpec?: string;
  shardSize?: number;
  compress: "gzip" | "none";
  gzipLevel: number;
  memory: number;
  workers: number;
  overwrite?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description(
      "Re-encode, re-chunk or re-shard an existing precomputed dataset into a new one.\n\n" +
        "Every scale keeps its key, size, offset and resolution and is copied from the same scale\n" +
        "of the source, task by task (memory bounded by the task, resumable like ingest).\n\n" +
        "Examples:\n" +
        "  voxport convert ./em ./em-sharded --sharded\n" +
        "  voxport convert ./seg ./seg-cseg --encoding compressed_segmentation\n" +
        "  voxport convert ./em-sharded ./em-plain --unsharded --compress none",
    )
    .argument("<source>", "existing dataset (path or URL)")
    .argument("<destination>", "new dataset (path or URL)")
    .addOption(
      new Option("--encoding <name>", "chunk encoding (default: keep)").choices([
        "raw",
        "jpeg",
        "png",
        "compressed_segmentation",
      ]),
    )
    .option("--jpeg-quality <n>", "jpeg quality 1-100", parseIntIn("--jpeg-quality", 1, 100))
    .option("--png-level <n>", "png zlib level 0-9", parseIntIn("--png-level", 0, 9))
    .option(
      "--cseg-block-size <x,y,z>",
      "compressed_segmentation block size",
      parseVec3("--cseg-block-size", { integer: true, positive: true }),
    )
    .option(
      "--chunk-size <x,y,z>",
      "new chunk size for every scale (default: keep)",
      parseVec3("--chunk-size", { integer: true, positive: true }),
    )
    .option("--sharded", "shard every scale (parameters chosen per scale)")
    .option("--unsharded", "store every scale as one file per chunk")
    .option("--shard-spec <json>", "explicit sharding spec: JSON object or array, or @file.json")
    .option("--shard-size <size>", "target uncompressed bytes per shard", parseBytes)
    .addOption(
      new Option("--compress <how>", "transfer compression of unsharded raw/cseg chunks")
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
      "--memory <size>",
      "memory budget for all workers together",
      parseBytes,
      DEFAULTS.memoryBytes,
    )
    .option(
      "-w, --workers <n>",
      "worker threads (0 = run on the main thread)",
      parseIntIn("--workers", 0, 256),
      Math.min(availableParallelism(), 8),
    )
    .option("--overwrite", "replace what the destination holds")
    .option("--dry-run", "print the plan and exit without writing")
    .option("--json", "print the final summary as JSON on stdout")
    .action(async (source: string, destination: string, flags: ConvertFlags) => {
      const prepared = await prepareConvert({
        source,
        destination,
        encoding: flags.encoding,
        jpegQuality: flags.jpegQuality,
        pngLevel: flags.pngLevel,
        csegBlockSize: flags.csegBlockSize,
        chunkSize: flags.chunkSize,
        sharded: flags.sharded,
        unsharded: flags.unsharded,
        shardSpec: flags.shardSpec === undefined ? undefined : await readShardSpec(flags.shardSpec),
        shardBytes: flags.shardSize,
        compress: flags.compress,
        gzipLevel: flags.gzipLevel,
        memoryBytes: flags.memory,
        workers: flags.workers,
        overwrite: flags.overwrite,
      });
      await runPreparedJob(prepared, {
        verb: "convert",
        destination,
        dryRun: flags.dryRun,
        json: flags.json,
      });
    });
}
