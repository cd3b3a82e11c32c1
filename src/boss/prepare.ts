import { VoxportError } from "../errors.js";
import { bytesPerVoxel, type Vec3 } from "../ops/array.js";
import { type Box, boxToString, containsBox } from "../ops/bbox.js";
import { openSource } from "../sources/open.js";
import type { VolumeSource } from "../sources/source.js";
import type { SourceSpec } from "../sources/spec.js";
import { BASE_BYTES } from "../tasks/plan.js";
import { type BossConfig, loadBossConfig } from "./config.js";
import {
  type BossJob,
  bytesOf,
  CUTOUT_MAX_BYTES,
  countBossTasks,
  cutoutCost,
  DEFAULT_BLOCK,
} from "./job.js";
import { POSTS_IN_FLIGHT } from "./task.js";

/**
 * Plan a BOSS ingest: read the config (a missing token stops here, before anything else),
 * open the source, place it in BOSS coordinates, size the tasks to the memory budget. Writes
 * nothing; ensureResources and the tasks do that.
 *
 * Negative extents (ndpush `--offset_extents`): the BOSS has no negative coordinates, so with
 * `offsetExtents` every axis whose extent starts below 0 is shifted up by that much and the
 * shift is stored as the experiment's `offsets` metadata, as ndpush does. Unlike ndpush, which
 * posted z at `z - offset` while shifting x and y up (seed-systems.md §6.3), every axis is
 * shifted the same way, so the data lands inside the frame it created.
 */

export interface BossIngestOptions {
  source: SourceSpec;
  destination: string;
  /** Voxel size in nanometres. */
  resolution: Vec3;
  /** BOSS voxel that source voxel (0,0,0) lands on (may be negative with offsetExtents). */
  offset?: Vec3;
  type?: "image" | "segmentation";
  /** Annotation channels: the image channel they annotate (required by the BOSS). */
  sourceChannel?: string;
  offsetExtents?: boolean;
  /** Coordinate frame for a new experiment (default: the data extent). */
  frame?: Box;
  configFile?: string;
  workers?: number;
  memoryBytes?: number;
  attempts?: number;
  backoffMs?: number;
  verify?: boolean;
  env?: NodeJS.ProcessEnv;
  /** The source, already opened by the ingest planner (else opened here). */
  opened?: VolumeSource;
  /** Settings to use instead of reading the config (`voxport plan` without a token). */
  config?: BossConfig;
}

export interface PreparedBoss {
  job: BossJob;
  config: BossConfig;
  source: VolumeSource;
  sourceDescription: string;
  workers: number;
  memoryBytes: number;
  tasks: number;
  /** Peak bytes one task holds. */
  taskBytes: number;
  taskBudget: number;
  overBudget: boolean;
}

export function parseBossUrl(url: string): {
  collection: string;
  experiment: string;
  channel: string;
} {
  const m = /^boss:\/\/([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)\/?$/.exec(url);
  if (!m) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${url}: a BOSS destination is boss://collection/experiment/channel (names of letters, digits, _ and -)`,
    );
  }
  return { collection: m[1], experiment: m[2], channel: m[3] };
}

/** Peak bytes of a task of `rows` rows: one z group read, widened copies, blocks in flight. */
function taskBytesFor(width: number, rows: number, srcBytes: number, outBytes: number): number {
  const block =
    Math.min(width, DEFAULT_BLOCK[0]) *
    Math.min(rows, DEFAULT_BLOCK[1]) *
    DEFAULT_BLOCK[2] *
    outBytes;
  return width * rows * DEFAULT_BLOCK[2] * srcBytes + POSTS_IN_FLIGHT * block * 2;
}

export const DEFAULT_ATTEMPTS = 3;
/** ndpush sleeps 2**(attempt+1) s between attempts: 2 s, then 4 s. */
export const DEFAULT_BACKOFF_MS = 2000;

export async function prepareBossIngest(opts: BossIngestOptions): Promise<PreparedBoss> {
  const target = parseBossUrl(opts.destination);
  const config = opts.config ?? loadBossConfig({ file: opts.configFile, env: opts.env });
  const source = opts.opened ?? (await openSource(opts.source));
  const desc = source.description;
  if (source.channels !== 1) {
    throw new VoxportError(
      "UNSUPPORTED",
      `${desc}: has ${source.channels} channels; a BOSS channel holds one: ingest each channel into its own BOSS channel`,
    );
  }
  const annotation = (opts.type ?? "image") === "segmentation";
  let datatype: BossJob["datatype"];
  if (annotation) {
    if (!["uint8", "uint16", "uint32", "uint64"].includes(source.dtype)) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${desc}: annotations need unsigned integer labels, the data is ${source.dtype}`,
      );
    }
    if (!opts.sourceChannel) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        "--type segmentation into the BOSS makes an annotation channel, which needs --boss-source-channel NAME (the image channel it annotates)",
      );
    }
    datatype = "uint64";
  } else {
    if (source.dtype !== "uint8" && source.dtype !== "uint16") {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${desc}: BOSS image channels hold uint8 or uint16, the data is ${source.dtype}`,
      );
    }
    datatype = source.dtype;
  }

  const size = source.size;
  const offset: Vec3 = [...(opts.offset ?? [0, 0, 0])] as Vec3;
  const shift: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    if (offset[d] >= 0) continue;
    if (!opts.offsetExtents) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `--offset puts the data at ${"xyz"[d]} = ${offset[d]}; BOSS extents must be positive: ` +
          "pass --offset-extents to shift them to 0 (the shift is recorded as the experiment's offsets metadata)",
      );
    }
    shift[d] = -offset[d];
    offset[d] = 0;
  }
  const extent: Box = {
    min: [...offset] as Vec3,
    max: [offset[0] + size[0], offset[1] + size[1], offset[2] + size[2]],
  };
  const frame = opts.frame ?? extent;
  if (!containsBox(frame, extent) || frame.min.some((v) => v < 0)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--boss-frame ${boxToString(frame)} must be non-negative and contain the data extent ${boxToString(extent)}`,
    );
  }
  const blockSize = DEFAULT_BLOCK;
  const blockCost = cutoutCost({ min: [0, 0, 0], max: blockSize }, datatype);
  if (blockCost > CUTOUT_MAX_BYTES) {
    throw new VoxportError("INVALID_ARGUMENT", `blocks of ${blockSize} exceed the BOSS cutout cap`);
  }

  const workers = Math.max(1, Math.floor(opts.workers ?? 2));
  const memoryBytes = opts.memoryBytes ?? 2 * 1024 ** 3;
  const usable = Math.max(memoryBytes / 4, memoryBytes - BASE_BYTES);
  const taskBudget = Math.floor(usable / workers);
  const srcBytes = bytesPerVoxel(source.dtype);
  const outBytes = bytesOf(datatype);
  const height = size[1];
  let bandRows = Math.ceil(height / blockSize[1]) * blockSize[1];
  // A band smaller than the full height still covers whole blocks (absolute multiples).
  while (
    bandRows > blockSize[1] &&
    taskBytesFor(size[0], bandRows, srcBytes, outBytes) > taskBudget
  ) {
    bandRows = Math.max(blockSize[1], Math.floor(bandRows / 2 / blockSize[1]) * blockSize[1]);
  }
  // One band that spans the height exactly, rounded to the block grid from the extent's start.
  if (bandRows >= height) {
    bandRows = Math.ceil(extent.max[1] / blockSize[1]) * blockSize[1];
  }
  const job: BossJob = {
    version: 1,
    kind: "boss",
    source: opts.source,
    target: {
      protocol: config.protocol,
      host: config.host,
      ...target,
      ...(opts.configFile ? { configFile: opts.configFile } : {}),
    },
    channelType: annotation ? "annotation" : "image",
    datatype,
    ...(annotation ? { sourceChannel: opts.sourceChannel } : {}),
    resolution: 0,
    voxelSize: opts.resolution,
    voxelUnit: "nanometers",
    offset,
    shift,
    extent,
    frame,
    blockSize,
    bandRows,
    zPerTask: blockSize[2],
    attempts: opts.attempts ?? DEFAULT_ATTEMPTS,
    backoffMs: opts.backoffMs ?? DEFAULT_BACKOFF_MS,
    verify: opts.verify ?? true,
  };
  const taskBytes = taskBytesFor(size[0], Math.min(bandRows, height), srcBytes, outBytes);
  return {
    job,
    config,
    source,
    sourceDescription: desc,
    workers,
    memoryBytes,
    tasks: countBossTasks(job),
    taskBytes,
    taskBudget,
    overBudget: taskBytes > taskBudget,
  };
}
