import { allocate } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { bloscDecode } from "./blosc.js";
import { bytesOf } from "./job.js";
import { type BossContext, readBoss, targetOf } from "./task.js";

/**
 * ndpush's `assert_equal`: read one random slice back from the BOSS, in tiles of at most
 * 2048×2048 (three attempts each), and compare it with the same slice of the source. Blocks
 * that were skipped as all-zero read back as zeros, so they compare equal.
 */

export const VERIFY_TILE = 2048;
const ATTEMPTS = 3;

export interface VerifyResult {
  z: number;
  match: boolean;
  /** Voxels that differ. */
  mismatched: number;
  voxels: number;
}

export async function verifySlice(
  ctx: BossContext,
  z = pickZ(ctx),
  signal?: AbortSignal,
): Promise<VerifyResult> {
  const { job } = ctx;
  const e = job.extent;
  const result: VerifyResult = { z, match: true, mismatched: 0, voxels: 0 };
  for (let y0 = e.min[1]; y0 < e.max[1]; y0 += VERIFY_TILE) {
    for (let x0 = e.min[0]; x0 < e.max[0]; x0 += VERIFY_TILE) {
      const tile: Box = {
        min: [x0, y0, z],
        max: [Math.min(x0 + VERIFY_TILE, e.max[0]), Math.min(y0 + VERIFY_TILE, e.max[1]), z + 1],
      };
      const n = (tile.max[0] - x0) * (tile.max[1] - y0);
      const got = await readTile(ctx, tile, n);
      const want = await readBoss(ctx, tile, signal);
      const have = allocate(job.datatype, n);
      const raw = new Uint8Array(have.buffer);
      raw.set(got);
      for (let i = 0; i < n; i++) {
        const a = want.data[i];
        const b = have[i];
        // Annotations were widened to uint64; compare as numbers of the same value.
        if (typeof b === "bigint" ? b !== BigInt(a as number | bigint) : a !== b) {
          result.mismatched++;
        }
      }
      result.voxels += n;
    }
  }
  result.match = result.mismatched === 0;
  return result;
}

function pickZ(ctx: BossContext): number {
  const e = ctx.job.extent;
  return e.min[2] + Math.floor(Math.random() * (e.max[2] - e.min[2]));
}

async function readTile(ctx: BossContext, tile: Box, n: number): Promise<Uint8Array> {
  const bytes = n * bytesOf(ctx.job.datatype);
  let last: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const frame = await ctx.client.getCutout(targetOf(ctx.job), ctx.job.resolution, tile);
      return await bloscDecode(frame, bytes, `BOSS cutout ${tile.min.join(",")}`);
    } catch (e) {
      last = e;
      if (attempt < ATTEMPTS) await (ctx.sleep ?? sleep)(ctx.job.backoffMs * 2 ** (attempt - 1));
    }
  }
  throw last;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
