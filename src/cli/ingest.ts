import type { Command } from "commander";
import { Option } from "commander";
import { VoxportError } from "../errors.js";
import { withJobReport } from "../notify/report.js";
import type { Vec3 } from "../ops/array.js";
import { ingestArgs } from "../sources/aligned/cli-args.js";
import { parseContrast } from "../sources/contrast.js";
import { sourceResolution } from "../sources/nifti.js";
import { applyPublicAccess } from "../storage/public-access.js";
import { openStore } from "../storage/registry.js";
import { DEFAULTS, type IngestOptions, prepareIngest } from "../tasks/ingest.js";
import {
  addBossOptions,
  type BossFlags,
  checkBossDestination,
  isBossUrl,
  planOrBoss,
} from "./boss.js";
import {
  accessOptions,
  addNotifyOptions,
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

interface IngestFlags extends StorageFlags, RunFlags, Omit<BossFlags, keyof RunFlags> {
  resolution?: Vec3;
  task?: string;
  offset?: Vec3;
  type: "image" | "segmentation";
  chunkSize: Vec3;
  factors: string;
  maxScales?: number;
  skipEmpty?: number;
  zRegex?: string;
  filter?: string;
  contrast?: string;
  allowGaps?: boolean;
  queue?: string;
  test?: boolean;
}

/** An optional positional argument (DESTINATION moves to SOURCE's place with --task). */
type MaybeArg = string | undefined;

/** `mode` "plan": the same command and options as `voxport plan`, which prints and writes nothing. */
export function registerIngest(program: Command, mode: "ingest" | "plan" = "ingest"): Command {
  const cmd = program
    .command(mode)
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
    .argument(
      "<source>",
      "folder, glob or printf pattern of section images; or aligned sections: registry.txt, its folder, or a .jsonl sections file (omit with --task)",
    )
    .argument("[destination]", "where the precomputed dataset goes (path or URL)")
    .option(
      "-r, --resolution <x,y,z>",
      "voxel size in nanometres, e.g. 4,4,40 (required unless --task gives voxelSize)",
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
      "--contrast <auto|min,max>",
      "map voxels to uint8: round(255·(v−min)/(max−min)) clamped; auto = 0.5–99.5 percentiles of a sample",
    )
    .option(
      "--allow-gaps",
      "missing z numbers (and missing tiles of tiled sections) become zero sections instead of an error",
    )
    .option(
      "--filter <regex>",
      "remote SOURCE (s3://, gs://, swift://, https://): the object names under the prefix that are slices",
    )
    .option(
      "--queue <url>",
      "put the tasks on a queue (fq://PATH, redis://HOST:PORT/NAME, sqs://…) instead of running them; start workers with `voxport work URL`",
    )
    .option("--test", "with --queue: enqueue only the 8 stage-0 tasks nearest the volume centre")
    .option(
      "--task <file>",
      "ChunkFlow.jl task JSON (cutoutchunk): registry, origin + cutoutSize (the box), voxelSize, offset, nonzeroRatioThreshold",
    );
  addStorageOptions(
    cmd,
    "chunk encoding (default raw; compressed_segmentation for uint32/uint64 segmentation)",
  );
  addBossOptions(cmd);
  addNotifyOptions(cmd);
  addRunOptions(cmd).action(async (first: string, second: MaybeArg, flags: IngestFlags) => {
    if (flags.test && !flags.queue) {
      throw new VoxportError("INVALID_ARGUMENT", "--test needs --queue");
    }
    // SOURCE may be omitted with --task; the task fills in resolution, offset and skip-empty.
    // NIfTI carries its voxel size: it stands in for --resolution when that is not given.
    const headerResolution =
      flags.task || flags.resolution ? undefined : await sourceResolution(first);
    const args = await ingestArgs(first, second, {
      ...flags,
      resolution: flags.resolution ?? headerResolution,
    });
    const { source, destination } = args;
    // A BOSS destination without a token fails before any slice is read.
    if (isBossUrl(destination) && mode === "ingest") checkBossDestination(destination, flags);
    // --public/--cors are checked before the slices are read (a local destination has no policy).
    const access = accessOptions(flags, destination);
    let factors: IngestOptions["factors"] = "auto";
    if (flags.factors !== "auto")
      factors = parseVec3("--factors", { integer: true, positive: true })(flags.factors);
    const prepared = await prepareIngest({
      source,
      destination,
      resolution: args.resolution,
      offset: args.offset,
      box: args.box,
      removeNaN: args.removeNaN,
      type: flags.type,
      chunkSize: flags.chunkSize,
      ...(await storageOptions(flags)),
      ...runOptions(flags),
      factors,
      maxScales: flags.maxScales,
      skipEmptyRatio: args.skipEmptyRatio,
      zRegex: flags.zRegex,
      filter: flags.filter,
      contrast: flags.contrast === undefined ? undefined : parseContrast(flags.contrast),
      allowGaps: flags.allowGaps,
    });
    prepared.access = access;
    if (mode === "plan" || isBossUrl(destination)) {
      await planOrBoss(prepared, destination, flags, mode);
      return;
    }
    if (flags.queue) {
      // Workers publish the dataset later; the access is set now, before any task is queued.
      if (access && !flags.dryRun) await applyPublicAccess(openStore(destination), access);
      await enqueuePrepared(prepared, { ...flags, queue: flags.queue, destination });
      return;
    }
    const tasks = prepared.taskCounts.reduce((a, b) => a + b, 0);
    await withJobReport(
      flags.dryRun ? {} : flags,
      "ingest",
      `${source} → ${destination}`,
      async () => {
        await runPreparedJob(prepared, {
          verb: "ingest",
          destination,
          dryRun: flags.dryRun,
          json: flags.json,
        });
        return { counts: { tasks, scales: prepared.job.info.scales.length } };
      },
    );
  });
  return cmd;
}
