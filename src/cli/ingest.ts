import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { type Command, Option } from "commander";
import { VoxportError } from "../errors.js";
import { bytesPerVoxel, type Vec3 } from "../ops/array.js";
import type { Encoding } from "../precomputed/types.js";
import { DEFAULTS, type IngestOptions, prepareIngest, runIngest } from "../tasks/ingest.js";
import { logger } from "./log.js";
import {
  formatBytes,
  formatDuration,
  parseBytes,
  parseIntIn,
  parseRatio,
  parseVec3,
} from "./parse.js";
import { ProgressBar } from "./progress.js";

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
      const { job } = prepared;
      const tty = process.stderr.isTTY === true;
      const log = logger();
      const scales = job.info.scales;
      const totalTasks = prepared.taskCounts.reduce((a, b) => a + b, 0);
      const planText =
        `source: ${prepared.source.description} — ${prepared.source.size.join("×")} ${job.info.data_type}` +
        (job.info.num_channels > 1 ? ` × ${job.info.num_channels} channels` : "") +
        `\nplan: ${scales.length} scales (${scales.map((s) => s.key).join(", ")}), ` +
        `${job.stages.length} stage(s), ${totalTasks} tasks` +
        ` [${job.stages.map((s, i) => `stage ${i}: scales ${s.first}-${s.last}, ${prepared.taskCounts[i]} tasks of ${s.taskChunks.join("×")} chunks`).join("; ")}]` +
        `\nmemory: budget ${formatBytes(prepared.memoryBytes)} over ${Math.max(1, prepared.workers)} worker(s) → ≤ ${formatBytes(prepared.taskBudget)} per task` +
        `, largest task ~${formatBytes(Math.max(...job.stages.map((s) => s.taskBytes)))}` +
        (prepared.overBudget ? " (OVER BUDGET: raise --memory or lower --chunk-size)" : "");
      if (tty || flags.dryRun) process.stderr.write(`${planText}\n`);
      else
        log.info(
          {
            source: prepared.source.description,
            size: prepared.source.size,
            dtype: job.info.data_type,
            scales: scales.map((s) => s.key),
            stages: job.stages,
            tasks: totalTasks,
            memoryBytes: prepared.memoryBytes,
            taskBudget: prepared.taskBudget,
          },
          "plan",
        );
      if (flags.dryRun) return;

      const bar = tty ? new ProgressBar(process.stderr, "ingest") : undefined;
      let lastLog = 0;
      const controller = new AbortController();
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
        process.stderr.write(
          "\nvoxport: interrupted; finishing running tasks (Ctrl-C again to stop now). Rerun the same command to resume.\n",
        );
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const bytesPerSourceVoxel = bytesPerVoxel(job.info.data_type);
      const summary = await runIngest(prepared, {
        signal: controller.signal,
        onStart: ({ resumed }) => {
          if (resumed > 0) {
            if (tty)
              process.stderr.write(`resuming: ${resumed} of ${totalTasks} tasks already done\n`);
            else log.info({ resumed, total: totalTasks }, "resuming");
          }
        },
        onProgress: (e) => {
          const finished = e.tasksDone === e.tasksTotal;
          bar?.update(e.chunksDone, e.chunksTotal, e.sourceVoxels * bytesPerSourceVoxel, finished);
          const now = Date.now();
          if (!tty && (now - lastLog > 2000 || finished)) {
            lastLog = now;
            log.info({ ...e }, "progress");
          }
        },
      });
      bar?.finish();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      const rate = summary.seconds > 0 ? summary.voxelsRead / summary.seconds : 0;
      if (flags.json) {
        const peakRssBytes = process.resourceUsage().maxRSS * 1024;
        process.stdout.write(`${JSON.stringify({ ...summary, peakRssBytes })}\n`);
      }
      if (summary.status === "already-complete") {
        process.stderr.write(
          `${destination} already holds this dataset, complete; nothing to do.\n`,
        );
      } else if (tty) {
        process.stderr.write(
          `done in ${formatDuration(summary.seconds)}: ${summary.chunksWritten} chunks written` +
            (summary.chunksSkipped ? `, ${summary.chunksSkipped} empty chunks skipped` : "") +
            `, ${formatBytes(summary.bytesWritten)} stored` +
            (summary.resumed ? `, ${summary.resumed} tasks resumed` : "") +
            ` (${formatBytes(rate)}/s of voxels read)\n`,
        );
      } else {
        log.info(summary, "done");
      }
      if (!flags.json) process.stderr.write(`inspect it: voxport info ${destination}\n`);
    });
}

async function readShardSpec(arg: string): Promise<unknown> {
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
