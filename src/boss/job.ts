import { z } from "zod";
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { type Box, intersect, isEmptyBox } from "../ops/bbox.js";
import type { SourceSpec } from "../sources/spec.js";

/**
 * A BOSS ingest as plain JSON: everything a worker needs to post any of its blocks, so a queue
 * message can carry it whole (there is no destination store to keep a job file in). It holds no
 * secret: workers read the token from their own config (config.ts).
 *
 * Coordinates are BOSS voxels at `resolution`. Source voxel (0,0,0) lands on `offset`; the data
 * covers `extent` = [offset, offset + size). Blocks are `blockSize` (default 1024×1024×16, four
 * 512×512×16 cuboids, as ndpush) aligned to absolute multiples of it, so every block is whole
 * cuboids except at the data's edges. A task is one 16-slice z group (or `zPerTask` slices) of
 * one band of `bandRows` rows (the full height unless the memory budget says otherwise).
 */

export const CUBOID: Vec3 = [512, 512, 16];
export const DEFAULT_BLOCK: Vec3 = [1024, 1024, 16];
/** The BOSS refuses cutouts over 520 MiB uncompressed (uint64 counted at a quarter). */
export const CUTOUT_MAX_BYTES = 520 * 1024 * 1024;

const vec3 = z.tuple([z.number().int(), z.number().int(), z.number().int()]);
const boxSchema = z.object({ min: vec3, max: vec3 });
const name = z.string().regex(/^[A-Za-z0-9_-]+$/);

export const bossJobSchema = z.object({
  version: z.literal(1),
  kind: z.literal("boss"),
  source: z.object({ kind: z.string(), input: z.string() }).passthrough(),
  target: z.object({
    protocol: z.enum(["http", "https"]),
    host: z.string().min(1),
    collection: name,
    experiment: name,
    channel: name,
    configFile: z.string().optional(),
  }),
  channelType: z.enum(["image", "annotation"]),
  datatype: z.enum(["uint8", "uint16", "uint64"]),
  sourceChannel: name.optional(),
  resolution: z.number().int().min(0).max(9),
  voxelSize: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  voxelUnit: z.enum(["nanometers", "micrometers", "millimeters", "centimeters"]),
  offset: vec3,
  shift: vec3,
  extent: boxSchema,
  frame: boxSchema,
  blockSize: vec3,
  bandRows: z.number().int().positive(),
  zPerTask: z.number().int().positive(),
  attempts: z.number().int().min(1).max(20),
  backoffMs: z.number().int().min(0),
  verify: z.boolean(),
});

export type BossJob = Omit<z.infer<typeof bossJobSchema>, "source"> & { source: SourceSpec };

export function parseBossJob(raw: unknown, where: string): BossJob {
  const r = bossJobSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${where}: not a BOSS job: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  return r.data as BossJob;
}

export interface BossTask {
  id: string;
  box: Box;
}

export function boxKey(b: Box): string {
  return `${b.min[0]}-${b.max[0]}_${b.min[1]}-${b.max[1]}_${b.min[2]}-${b.max[2]}`;
}

export function parseBoxKey(key: string): Box | undefined {
  const m = /^(-?\d+)-(-?\d+)_(-?\d+)-(-?\d+)_(-?\d+)-(-?\d+)$/.exec(key);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  return { min: [n[0], n[2], n[4]], max: [n[1], n[3], n[5]] };
}

/** `boss://collection/experiment/channel`, the job's destination as users write it. */
export function bossUrl(job: Pick<BossJob, "target">): string {
  const t = job.target;
  return `boss://${t.collection}/${t.experiment}/${t.channel}`;
}

/** Cells of an axis-aligned grid of `step` (absolute multiples) that meet `b`, clipped to it. */
function* gridCells(b: Box, step: Vec3): Generator<Box> {
  const start = [0, 1, 2].map((d) => Math.floor(b.min[d] / step[d]) * step[d]);
  for (let z0 = start[2]; z0 < b.max[2]; z0 += step[2]) {
    for (let y0 = start[1]; y0 < b.max[1]; y0 += step[1]) {
      for (let x0 = start[0]; x0 < b.max[0]; x0 += step[0]) {
        const cell = intersect(b, {
          min: [x0, y0, z0],
          max: [x0 + step[0], y0 + step[1], z0 + step[2]],
        });
        if (!isEmptyBox(cell)) yield cell;
      }
    }
  }
}

/** Tasks in z order (then y): each a full-width band of `bandRows` rows × `zPerTask` slices. */
export function* bossTasks(job: BossJob): Generator<BossTask> {
  const e = job.extent;
  const width = e.max[0] - e.min[0];
  const step: Vec3 = [Math.max(1, width), job.bandRows, job.zPerTask];
  // x spans the whole extent: align the x "grid" to the extent's start.
  const shifted: Box = { min: [0, e.min[1], e.min[2]], max: [width, e.max[1], e.max[2]] };
  for (const c of gridCells(shifted, step)) {
    const box: Box = { min: [e.min[0], c.min[1], c.min[2]], max: [e.max[0], c.max[1], c.max[2]] };
    yield { id: `b_${boxKey(box)}`, box };
  }
}

export function countBossTasks(job: BossJob): number {
  const e = job.extent;
  const n = (d: number, step: number) => Math.ceil(e.max[d] / step) - Math.floor(e.min[d] / step);
  return n(1, job.bandRows) * n(2, job.zPerTask);
}

/** Blocks of the whole job (grid cells of `blockSize` that meet the extent). */
export function countBlocks(job: BossJob): number {
  const e = job.extent;
  let n = 1;
  for (let d = 0; d < 3; d++) {
    const s = job.blockSize[d];
    n *= Math.ceil(e.max[d] / s) - Math.floor(e.min[d] / s);
  }
  return n;
}

/** The blocks of one task, in z-group order: 16-slice groups, then y, then x. */
export function* taskBlocks(job: BossJob, task: Box): Generator<Box> {
  yield* gridCells(task, job.blockSize);
}

export function bytesOf(datatype: BossJob["datatype"]): number {
  return datatype === "uint8" ? 1 : datatype === "uint16" ? 2 : 8;
}

/** Bytes the BOSS counts against its cutout cap: uint64 (annotations) at a quarter. */
export function cutoutCost(b: Box, datatype: BossJob["datatype"]): number {
  const v = (b.max[0] - b.min[0]) * (b.max[1] - b.min[1]) * (b.max[2] - b.min[2]);
  return datatype === "uint64" ? v * 2 : v * bytesOf(datatype);
}
