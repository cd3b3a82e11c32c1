import { isVoxportError } from "../errors.js";
import { type Box, boxVolume, intersect } from "../ops/bbox.js";
import { mapLimit } from "../sources/concurrency.js";
import { openSource } from "../sources/open.js";
import type { VolumeSource } from "../sources/source.js";
import { bloscEncode } from "./blosc.js";
import { BossClient, type CutoutTarget } from "./client.js";
import { loadBossConfig } from "./config.js";
import { extractBlock } from "./extract.js";
import { type BossJob, type BossTask, CUBOID, taskBlocks } from "./job.js";

/**
 * One BOSS task: for each 16-slice z group of the task's band, read the source once, cut it
 * into blocks, skip all-zero ones, blosc them and POST them (a few at a time). A POST that fails
 * with a server or network error is retried (`attempts`, backoff doubling from `backoffMs`);
 * one that still fails is listed in the result and the task carries on, as ndpush does — the
 * job log lists it and `voxport retry-log` re-posts it. A 4xx answer (bad token, wrong datatype,
 * outside the frame) is the job's mistake, not the block's: it fails the task at once.
 *
 * Memory: one z group of the band (width × bandRows × 16 voxels) plus POSTS_IN_FLIGHT blocks.
 * Tasks run on the calling thread: the work is HTTP, blosc (WASM, ~GB/s) and decoding, which
 * sharp does on its own threads.
 */

export const POSTS_IN_FLIGHT = 4;

export interface BossContext {
  job: BossJob;
  client: BossClient;
  source?: VolumeSource;
  /** Waits between attempts; tests replace it to run without real delays. */
  sleep?: (ms: number) => Promise<void>;
}

export interface BlockFailure {
  box: Box;
  error: string;
}

export interface BossTaskResult {
  blocksPosted: number;
  blocksEmpty: number;
  blocksFailed: number;
  failed: BlockFailure[];
  /** Compressed bytes sent. */
  bytesPosted: number;
  voxelsRead: number;
}

export interface BossTaskEvent {
  blocks?: number;
  voxelsRead?: number;
}

export function emptyResult(): BossTaskResult {
  return {
    blocksPosted: 0,
    blocksEmpty: 0,
    blocksFailed: 0,
    failed: [],
    bytesPosted: 0,
    voxelsRead: 0,
  };
}

export function addResult(into: BossTaskResult, r: BossTaskResult): void {
  into.blocksPosted += r.blocksPosted;
  into.blocksEmpty += r.blocksEmpty;
  into.blocksFailed += r.blocksFailed;
  into.failed.push(...r.failed);
  into.bytesPosted += r.bytesPosted;
  into.voxelsRead += r.voxelsRead;
}

/** Client and source for a job. The token comes from this machine's config, never the job. */
export function openBossContext(job: BossJob, client?: BossClient): BossContext {
  const c =
    client ??
    new BossClient(
      loadBossConfig({
        file: job.target.configFile,
        host: job.target.host,
        protocol: job.target.protocol,
      }),
    );
  return { job, client: c };
}

export function targetOf(job: BossJob): CutoutTarget {
  return job.target;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** POST one block with retries. Returns the compressed size, or throws the last error. */
export async function postBlock(ctx: BossContext, b: Box, data: ArrayBufferView): Promise<number> {
  const frame = await bloscEncode(data);
  const sleep = ctx.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.client.postCutout(targetOf(ctx.job), ctx.job.resolution, b, frame);
      return frame.byteLength;
    } catch (e) {
      const fatal = isVoxportError(e, "INVALID_ARGUMENT");
      if (fatal || attempt >= ctx.job.attempts) throw e;
      await sleep(ctx.job.backoffMs * 2 ** (attempt - 1));
    }
  }
}

async function sourceOf(ctx: BossContext, signal?: AbortSignal): Promise<VolumeSource> {
  ctx.source ??= await openSource(ctx.job.source, { signal });
  return ctx.source;
}

/** Read `b` (BOSS coordinates) from the source. */
export async function readBoss(ctx: BossContext, b: Box, signal?: AbortSignal) {
  const o = ctx.job.offset;
  const src = await sourceOf(ctx, signal);
  const srcBox: Box = {
    min: [b.min[0] - o[0], b.min[1] - o[1], b.min[2] - o[2]],
    max: [b.max[0] - o[0], b.max[1] - o[1], b.max[2] - o[2]],
  };
  return src.read(srcBox, { signal });
}

/**
 * Post `blocks` (all inside `group`, one read of the source). 4xx errors propagate; others are
 * collected as failures once retries are spent.
 */
async function postGroup(
  ctx: BossContext,
  group: Box,
  blocks: Box[],
  result: BossTaskResult,
  signal?: AbortSignal,
  emit?: (e: BossTaskEvent) => void,
): Promise<void> {
  const read = await readBoss(ctx, group, signal);
  result.voxelsRead += boxVolume(group);
  emit?.({ voxelsRead: boxVolume(group) });
  await mapLimit(
    blocks,
    POSTS_IN_FLIGHT,
    async (b) => {
      const data = extractBlock(read, group.min, b, ctx.job.datatype);
      if (!data) {
        result.blocksEmpty++;
      } else {
        try {
          result.bytesPosted += await postBlock(ctx, b, data);
          result.blocksPosted++;
        } catch (e) {
          if (isVoxportError(e, "INVALID_ARGUMENT")) throw e;
          result.blocksFailed++;
          result.failed.push({ box: b, error: (e as Error).message });
        }
      }
      emit?.({ blocks: 1 });
    },
    { signal, what: "BOSS task" },
  );
}

export async function runBossTask(
  ctx: BossContext,
  task: BossTask,
  signal?: AbortSignal,
  emit?: (e: BossTaskEvent) => void,
): Promise<BossTaskResult> {
  const result = emptyResult();
  // Group the task's blocks by z group: one source read per group.
  const groups = new Map<number, Box[]>();
  for (const b of taskBlocks(ctx.job, task.box)) {
    const g = Math.floor(b.min[2] / CUBOID[2]);
    const list = groups.get(g) ?? [];
    groups.set(g, list);
    list.push(b);
  }
  for (const [g, blocks] of groups) {
    const zRange: Box = {
      min: [task.box.min[0], task.box.min[1], g * CUBOID[2]],
      max: [task.box.max[0], task.box.max[1], (g + 1) * CUBOID[2]],
    };
    await postGroup(ctx, intersect(task.box, zRange), blocks, result, signal, emit);
  }
  return result;
}

/** Re-post single blocks (retry-log): each block read on its own. */
export async function postBlocks(
  ctx: BossContext,
  blocks: Box[],
  onBlock?: (b: Box, error?: string) => void,
): Promise<BossTaskResult> {
  const result = emptyResult();
  for (const b of blocks) {
    const before = result.failed.length;
    await postGroup(ctx, b, [b], result);
    onBlock?.(b, result.failed[before]?.error);
  }
  return result;
}
