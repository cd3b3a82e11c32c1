import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { type Command, InvalidArgumentError, Option } from "commander";
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import type { Encoding } from "../precomputed/types.js";
import type { PublicAccess } from "../storage/kvstore.js";
import { checkPublicAccessSupported, publicAccessFromFlags } from "../storage/public-access.js";
import { openStore } from "../storage/registry.js";
import { DEFAULTS, type EncodingOptions, type RunOptions } from "../tasks/ingest.js";
import type { ShardingOptions } from "../tasks/layout.js";
import { parseBytes, parseIntIn, parseVec3 } from "./parse.js";

/** Option groups shared by the commands that write datasets (ingest, convert). */

export interface StorageFlags {
  encoding?: Encoding;
  jpegQuality?: number;
  pngLevel?: number;
  csegBlockSize?: Vec3;
  sharded?: boolean;
  shardSpec?: string;
  shardSize?: number;
  compress: "gzip" | "none";
  gzipLevel: number;
  public?: boolean;
  cors?: string[];
}

export interface RunFlags {
  memory: number;
  workers: number;
  overwrite?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** How chunks are encoded, compressed and sharded. */
export function addStorageOptions(cmd: Command, encodingHelp: string): Command {
  return cmd
    .addOption(
      new Option("--encoding <name>", encodingHelp).choices([
        "raw",
        "jpeg",
        "png",
        "compressed_segmentation",
      ]),
    )
    .option(
      "--jpeg-quality <n>",
      "jpeg quality 1-100 (default 85)",
      parseIntIn("--jpeg-quality", 1, 100),
    )
    .option("--png-level <n>", "png zlib level 0-9", parseIntIn("--png-level", 0, 9))
    .option(
      "--cseg-block-size <x,y,z>",
      "compressed_segmentation block size (default 8,8,8)",
      parseVec3("--cseg-block-size", { integer: true, positive: true }),
    )
    .option(
      "--sharded",
      "store every scale as neuroglancer_uint64_sharded_v1 shards (few large files)",
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
        "transfer compression of unsharded raw/cseg chunks (gzip: .gz files locally, Content-Encoding on object stores)",
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
      "--public",
      "object-store destination: let anyone read the dataset (S3: the prefix; GCS, Swift: the bucket/container) and allow CORS from any origin unless --cors is given",
    )
    .option(
      "--cors <origin>",
      "object-store destination: let web pages from ORIGIN (or *) read it, as Neuroglancer does (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    );
}

/** The access --public/--cors ask for (checked: origins, and a destination that has a policy). */
export function accessOptions(flags: StorageFlags, destination: string): PublicAccess | undefined {
  const access = publicAccessFromFlags(flags);
  if (access !== undefined) checkPublicAccessSupported(openStore(destination));
  return access;
}

/** Memory, parallelism and what to do with the destination. */
export function addRunOptions(cmd: Command): Command {
  return cmd
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
    .option("--overwrite", "replace a different dataset or unfinished job at the destination")
    .option("--dry-run", "print the plan and exit without writing")
    .option("--json", "print the final summary as JSON on stdout");
}

export interface NotifyFlags {
  notify?: string[];
  log?: string;
}

function collectUrl(value: string, previous: string[] = []): string[] {
  let ok = false;
  try {
    ok = ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    ok = false;
  }
  if (!ok) throw new InvalidArgumentError(`--notify takes an http(s) webhook URL (got "${value}")`);
  return [...previous, value];
}

export function notifyOption(): Option {
  return new Option(
    "--notify <url>",
    "POST a message when the job finishes or fails (Slack incoming webhook or any https webhook; repeatable)",
  ).argParser(collectUrl);
}

export function logOption(): Option {
  return new Option(
    "--log <file>",
    "append a job log to FILE (failed BOSS blocks are listed for `voxport retry-log FILE`)",
  );
}

/** Notifications and the job log, for every long job (src/notify). */
export function addNotifyOptions(cmd: Command): Command {
  return cmd.addOption(notifyOption()).addOption(logOption());
}

export async function storageOptions(
  flags: StorageFlags,
): Promise<EncodingOptions & ShardingOptions> {
  return {
    encoding: flags.encoding,
    jpegQuality: flags.jpegQuality,
    pngLevel: flags.pngLevel,
    csegBlockSize: flags.csegBlockSize,
    sharded: flags.sharded,
    shardSpec: flags.shardSpec === undefined ? undefined : await readShardSpec(flags.shardSpec),
    shardBytes: flags.shardSize,
  };
}

export function runOptions(flags: RunFlags & StorageFlags): RunOptions {
  return {
    compress: flags.compress,
    gzipLevel: flags.gzipLevel,
    memoryBytes: flags.memory,
    workers: flags.workers,
    overwrite: flags.overwrite,
  };
}

async function readShardSpec(arg: string): Promise<unknown> {
  const file = arg.startsWith("@") ? arg.slice(1) : undefined;
  const text = file ? await readFile(file, "utf8") : arg;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--shard-spec${file ? ` ${file}` : ""}: not valid JSON (${(e as Error).message})`,
    );
  }
}
