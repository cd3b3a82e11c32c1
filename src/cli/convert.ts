import type { Command } from "commander";
import type { Vec3 } from "../ops/array.js";
import { prepareConvert } from "../tasks/convert.js";
import {
  accessOptions,
  addRunOptions,
  addStorageOptions,
  type RunFlags,
  runOptions,
  type StorageFlags,
  storageOptions,
} from "./options.js";
import { parseVec3 } from "./parse.js";
import { runPreparedJob } from "./run-job.js";

interface ConvertFlags extends StorageFlags, RunFlags {
  chunkSize?: Vec3;
  unsharded?: boolean;
}

export function registerConvert(program: Command): void {
  const cmd = program
    .command("convert")
    .description(
      "Re-encode, re-chunk or re-shard an existing precomputed dataset into a new one.\n\n" +
        "Every scale keeps its key, size, offset and resolution and is copied from the same " +
        "scale of the source, task by task (memory bounded by the task, resumable like ingest).\n\n" +
        "Examples:\n" +
        "  voxport convert ./em ./em-sharded --sharded\n" +
        "  voxport convert ./seg ./seg-cseg --encoding compressed_segmentation\n" +
        "  voxport convert ./em-sharded ./em-plain --unsharded --compress none",
    )
    .argument("<source>", "existing dataset (path or URL)")
    .argument("<destination>", "new dataset (path or URL)")
    .option(
      "--chunk-size <x,y,z>",
      "new chunk size for every scale (default: keep)",
      parseVec3("--chunk-size", { integer: true, positive: true }),
    )
    .option("--unsharded", "store every scale as one file per chunk");
  addStorageOptions(cmd, "chunk encoding (default: keep)");
  addRunOptions(cmd).action(async (source: string, destination: string, flags: ConvertFlags) => {
    const access = accessOptions(flags, destination);
    const prepared = await prepareConvert({
      source,
      destination,
      chunkSize: flags.chunkSize,
      unsharded: flags.unsharded,
      ...(await storageOptions(flags)),
      ...runOptions(flags),
    });
    prepared.access = access;
    await runPreparedJob(prepared, {
      verb: "convert",
      destination,
      dryRun: flags.dryRun,
      json: flags.json,
    });
  });
}
