import type { Command } from "commander";
import { Option } from "commander";
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { DEFAULTS, type IngestOptions, prepareIngest } from "../tasks/ingest.js";
import {
  addRunOptions,
  addStorageOptions,
  type RunFlags,
  runOptions,
  type StorageFlags,
  storageOptions,
} from "./options.js";
import { parseIntIn, parseRatio, parseVec3 } from "./parse.js";
import { enqueuePrepared } from "./queue.js";
import { runPreparedJob } from "./run-job.js";

interface IngestFlags extends StorageFlags, RunFlags {
  resolution: Vec3;
  offset?: Vec3;
  type: "image" | "segmentation";
  chunkSize: Vec3;
  factors: string;
  maxScales?: number;
  skipEmpty?: number;
  zRegex?: string;
  filter?: string;
  queue?: string;
  test?: boolean;
}

export function registerIngest(program: Command): void {
  const cmd = program
    .command("ingest")
    .description(
      "Convert a stack of 2-D sections into a multi-resolution precomputed volume.\n\n" +
        "SOURCE is a folder of slices (PNG, TIFF, JPEG; 8/16-bit grey or RGB), a glob such as " +
        "'sections/*.tif', or a printf pattern such as 'sections/s%04d.png'. Slices are ordered " +
        "by natural sort of their names, or by --z-regex. DESTINATION is a folder or a file:// " +
        "or mem:// URL.\n\n" +
        "The run is resumable: interrupt it and rerun the same command to finish it. The " +
        "dataset's info file is written last, so Neuroglancer never sees a half-built volume.\n\n" +
        "Example:\n  voxport ingest ./sections file://./out/em --resolution 4,4,40 --sharded",
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
      "--skip-empty <ratio>",
      "do not write chunks whose nonzero fraction is below RATIO",
      parseRatio,
    )
    .option(
      "--z-regex <regex>",
      "take z from this regex's capture group (or named group z) in each file name",
    )
    .option(
      "--filter <regex>",
      "remote SOURCE (s3://, gs://, swift://, https://): the object names under the prefix that are slices",
    )
    .option(
      "--queue <url>",
      "put the tasks on a queue (fq://PATH, redis://HOST:PORT/NAME, sqs://…) instead of running them; start workers with `voxport work URL`",
    )
    .option("--test", "with --queue: enqueue only the 8 stage-0 tasks nearest the volume centre");
  addStorageOptions(
    cmd,
    "chunk encoding (default raw; compressed_segmentation for uint32/uint64 segmentation)",
  );
  addRunOptions(cmd).action(async (source: string, destination: string, flags: IngestFlags) => {
    if (flags.test && !flags.queue) {
      throw new VoxportError("INVALID_ARGUMENT", "--test needs --queue");
    }
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
      ...(await storageOptions(flags)),
      ...runOptions(flags),
      factors,
      maxScales: flags.maxScales,
      skipEmptyRatio: flags.skipEmpty,
      zRegex: flags.zRegex,
      filter: flags.filter,
    });
    if (flags.queue) {
      await enqueuePrepared(prepared, { ...flags, queue: flags.queue, destination });
      return;
    }
    await runPreparedJob(prepared, {
      verb: "ingest",
      destination,
      dryRun: flags.dryRun,
      json: flags.json,
    });
  });
}
