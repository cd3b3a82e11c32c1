import type { Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { shardShapeVoxels } from "../precomputed/shard-grid.js";
import type { ScaleInfo } from "../precomputed/types.js";
import type { IngestTask, StageSpec } from "./job.js";
import { taskId } from "./job.js";

/**
 * The planner: pure functions from the target scales and a memory budget to stages and
 * chunk-aligned task boxes. Deterministic, so a rerun plans the very same task ids and can skip
 * the ones already done.
 */

/** Peak bytes a task holds per input voxel byte: the input block, its downsampled levels
 * (≤ 1/3 more for 2×2×1), encode and gzip buffers. Measured on the benchmark, rounded up. */
export const TASK_OVERHEAD = 2;

/** What the process holds whatever the tasks: Node, worker threads, libvips, buffers in flight.
 * Measured peak RSS of an idle ingest with 2 workers is ~150 MiB; rounded up. */
export const BASE_BYTES = 192 * 1024 ** 2;

export interface PlanOptions {
  /** Total memory budget in bytes for all workers together. */
  memoryBytes: number;
  workers: number;
  bytesPerVoxel: number;
  channels: number;
  /** Copy every scale from the same scale of a source dataset (convert): one scale per stage. */
  copyScales?: boolean;
}

export function cumulativeFactor(scales: ScaleInfo[], j: number): Vec3 {
  const r0 = scales[0].resolution;
  const rj = scales[j].resolution;
  return [0, 1, 2].map((d) => Math.max(1, Math.round(rj[d] / r0[d]))) as Vec3;
}

function offsetOf(s: ScaleInfo): Vec3 {
  return s.voxel_offset ?? [0, 0, 0];
}

export function scaleBox(s: ScaleInfo): Box {
  const o = offsetOf(s);
  return { min: [...o] as Vec3, max: [o[0] + s.size[0], o[1] + s.size[1], o[2] + s.size[2]] };
}

/** Whether scales first..last can all be produced from one task box of scale `last`:
 * their chunk grids must nest exactly (same chunk size, offsets that scale exactly). */
export function levelsNest(scales: ScaleInfo[], first: number, last: number): boolean {
  const top = scales[last];
  const Fk = cumulativeFactor(scales, last);
  for (let j = first; j < last; j++) {
    const s = scales[j];
    const Fj = cumulativeFactor(scales, j);
    for (let d = 0; d < 3; d++) {
      if (s.chunk_sizes[0][d] !== top.chunk_sizes[0][d]) return false;
      if (Fk[d] % Fj[d] !== 0) return false;
      if (offsetOf(top)[d] * (Fk[d] / Fj[d]) !== offsetOf(s)[d]) return false;
    }
  }
  return true;
}

/** Voxels a task of `t` chunks at scale `last` reads at its input level (the scale below the
 * stage, or scale 0 for stage 0 and for copies, where first = last). */
function footprintVoxels(
  scales: ScaleInfo[],
  first: number,
  last: number,
  t: Vec3,
  copy = false,
): number {
  const input = copy ? first : Math.max(0, first - 1);
  const Fk = cumulativeFactor(scales, last);
  const Fi = cumulativeFactor(scales, input);
  const C = scales[last].chunk_sizes[0];
  let n = 1;
  for (let d = 0; d < 3; d++) {
    const want = t[d] * C[d] * (Fk[d] / Fi[d]);
    n *= Math.min(want, scales[input].size[d] + Fk[d] / Fi[d]);
  }
  return n;
}

function gridOf(s: ScaleInfo): Vec3 {
  const C = s.chunk_sizes[0];
  return [0, 1, 2].map((d) => Math.ceil(s.size[d] / C[d])) as Vec3;
}

/**
 * The task size, in chunks of scale `last`, must be a multiple of this on each axis so that at
 * every sharded scale of the stage a task covers whole shards (one writer per shard). Shard
 * shapes are powers of two chunks, so the largest requirement covers the others. An axis whose
 * unit reaches the grid's extent simply has one task along it.
 */
export function alignmentUnit(scales: ScaleInfo[], first: number, last: number): Vec3 {
  const unit: Vec3 = [1, 1, 1];
  const Fk = cumulativeFactor(scales, last);
  const grid = gridOf(scales[last]);
  for (let j = first; j <= last; j++) {
    if (!scales[j].sharding) continue;
    const S = shardShapeVoxels(scales[j]);
    const Fj = cumulativeFactor(scales, j);
    const C = scales[last].chunk_sizes[0];
    for (let d = 0; d < 3; d++) {
      const perTaskChunk = C[d] * (Fk[d] / Fj[d]);
      unit[d] = Math.max(unit[d], Math.min(grid[d], Math.ceil(S[d] / perTaskChunk)));
    }
  }
  return unit;
}

/** Largest task (in chunks of scale `last`, multiples of `unit`) whose footprint fits `budget`,
 * grown x, then y, then z: covering whole sections first means each section is decoded once per
 * z-slab. */
function largestTask(
  scales: ScaleInfo[],
  first: number,
  last: number,
  budget: number,
  perVoxel: number,
  unit: Vec3,
  copy: boolean,
): Vec3 | undefined {
  const grid = gridOf(scales[last]);
  const t: Vec3 = [...unit];
  const fits = (c: Vec3) => footprintVoxels(scales, first, last, c, copy) * perVoxel <= budget;
  if (!fits(t)) return undefined;
  for (const d of [0, 1, 2]) {
    // Double while it fits, then refine by units; grids are small numbers.
    while (t[d] < grid[d]) {
      const next = [...t] as Vec3;
      next[d] = Math.min(grid[d], t[d] * 2);
      if (!fits(next)) break;
      t[d] = next[d];
    }
    while (t[d] < grid[d]) {
      const next = [...t] as Vec3;
      next[d] = Math.min(grid[d], t[d] + unit[d]);
      if (!fits(next)) break;
      t[d] = next[d];
    }
    if (t[d] < grid[d]) break; // do not grow the next axis past a partial one
  }
  return t;
}

export interface Plan {
  stages: StageSpec[];
  /** Per-task budget used, in bytes. */
  taskBudget: number;
  /** Set when even the smallest task exceeds the budget. */
  overBudget: boolean;
}

/** Tasks per worker a stage should offer when the volume allows it, so no worker idles. One is
 * enough: more would split whole-section tasks (decoding sections twice) for little gain. */
export const TASKS_PER_WORKER = 1;
/** Below this much input per task, splitting for parallelism costs more than it gains. */
export const MIN_SPLIT_BYTES = 32 * 1024 ** 2;

interface Candidate {
  last: number;
  t: Vec3;
  tasks: number;
  wholeSections: boolean;
}

function tasksFor(scales: ScaleInfo[], last: number, t: Vec3): number {
  const grid = gridOf(scales[last]);
  return [0, 1, 2].reduce((n, d) => n * Math.ceil(grid[d] / t[d]), 1);
}

/**
 * Choose a stage starting at `first`. Candidates are every top scale whose grids nest and whose
 * smallest task fits the budget. Preferred, in order: enough tasks to keep every worker busy,
 * tasks that cover whole sections (each section decoded once), then more scales per stage (fewer
 * rereads). Each candidate's task is first split along z, then y, then x until there are enough.
 */
function chooseStage(
  scales: ScaleInfo[],
  first: number,
  budget: number,
  perVoxel: number,
  workers: number,
  copy: boolean,
): Candidate | undefined {
  const input = scales[copy ? first : Math.max(0, first - 1)].size;
  const inputBytes = (input[0] * input[1] * input[2] * perVoxel) / TASK_OVERHEAD;
  const want = Math.max(
    1,
    Math.min(workers * TASKS_PER_WORKER, Math.floor(inputBytes / MIN_SPLIT_BYTES)),
  );
  const candidates: Candidate[] = [];
  for (let last = first; last < (copy ? first + 1 : scales.length); last++) {
    if (!levelsNest(scales, first, last)) break;
    const unit = alignmentUnit(scales, first, last);
    const t = largestTask(scales, first, last, budget, perVoxel, unit, copy);
    if (!t) break;
    for (const d of [2, 1, 0]) {
      while (t[d] > unit[d] && tasksFor(scales, last, t) < want) {
        t[d] = Math.max(unit[d], Math.ceil(t[d] / 2 / unit[d]) * unit[d]);
      }
    }
    const grid = gridOf(scales[last]);
    candidates.push({
      last,
      t,
      tasks: tasksFor(scales, last, t),
      wholeSections: t[0] >= grid[0] && t[1] >= grid[1],
    });
  }
  if (candidates.length === 0) return undefined;
  const score = (c: Candidate) => [c.tasks >= want ? 1 : 0, c.wholeSections ? 1 : 0, c.last];
  let best = candidates[0];
  for (const c of candidates.slice(1)) {
    const a = score(c);
    const b = score(best);
    const i = a.findIndex((v, k) => v !== b[k]);
    if (i >= 0 && a[i] > b[i]) best = c;
  }
  return best;
}

export function planStages(scales: ScaleInfo[], opts: PlanOptions): Plan {
  const perVoxel = opts.bytesPerVoxel * opts.channels * TASK_OVERHEAD;
  const workers = Math.max(1, opts.workers);
  const copy = opts.copyScales ?? false;
  // The budget is for the whole process (what `--memory` means to a user: peak RSS), so the
  // baseline comes off before it is shared among the workers' tasks.
  const usable = Math.max(opts.memoryBytes / 4, opts.memoryBytes - BASE_BYTES);
  const taskBudget = Math.max(1, Math.floor(usable / workers));
  const stages: StageSpec[] = [];
  let overBudget = false;
  let first = 0;
  while (first < scales.length) {
    let best = chooseStage(scales, first, taskBudget, perVoxel, workers, copy);
    if (!best) {
      overBudget = true;
      const t = alignmentUnit(scales, first, first);
      best = { last: first, t, tasks: tasksFor(scales, first, t), wholeSections: false };
    }
    stages.push({
      first,
      last: best.last,
      taskChunks: best.t,
      taskBytes: footprintVoxels(scales, first, best.last, best.t, copy) * perVoxel,
    });
    first = best.last + 1;
  }
  return { stages, taskBudget, overBudget };
}

/** Task boxes of one stage, in chunks of its top scale, clipped at the volume edge. */
export function* stageTasks(
  scales: ScaleInfo[],
  stage: StageSpec,
  stageIndex: number,
): Generator<IngestTask> {
  const top = scales[stage.last];
  const C = top.chunk_sizes[0];
  const b = scaleBox(top);
  const step = [0, 1, 2].map((d) => stage.taskChunks[d] * C[d]) as Vec3;
  for (let z = b.min[2]; z < b.max[2]; z += step[2]) {
    for (let y = b.min[1]; y < b.max[1]; y += step[1]) {
      for (let x = b.min[0]; x < b.max[0]; x += step[0]) {
        const box: Box = {
          min: [x, y, z],
          max: [
            Math.min(x + step[0], b.max[0]),
            Math.min(y + step[1], b.max[1]),
            Math.min(z + step[2], b.max[2]),
          ],
        };
        yield { id: taskId(stageIndex, box), stage: stageIndex, box };
      }
    }
  }
}

export function countStageTasks(scales: ScaleInfo[], stage: StageSpec): number {
  const grid = gridOf(scales[stage.last]);
  return [0, 1, 2].reduce((n, d) => n * Math.ceil(grid[d] / stage.taskChunks[d]), 1);
}

/** The box a task covers at scale j (first ≤ j ≤ last), clipped to that scale's bounds. */
export function boxAtLevel(scales: ScaleInfo[], stage: StageSpec, task: Box, j: number): Box {
  const Fk = cumulativeFactor(scales, stage.last);
  const Fj = cumulativeFactor(scales, j);
  const bounds = scaleBox(scales[j]);
  const min = [0, 1, 2].map((d) => Math.max(bounds.min[d], task.min[d] * (Fk[d] / Fj[d])));
  const max = [0, 1, 2].map((d) => Math.min(bounds.max[d], task.max[d] * (Fk[d] / Fj[d])));
  return { min: min as Vec3, max: max as Vec3 };
}

/** The factor between scale j-1 and scale j. */
export function levelStep(scales: ScaleInfo[], j: number): Vec3 {
  const a = cumulativeFactor(scales, j - 1);
  const b = cumulativeFactor(scales, j);
  return [0, 1, 2].map((d) => b[d] / a[d]) as Vec3;
}

export function chunkCount(s: ScaleInfo): number {
  return gridOf(s).reduce((a, b) => a * b, 1);
}

/** Chunks a task writes over all scales of its stage. */
export function taskChunkCount(scales: ScaleInfo[], stage: StageSpec, task: IngestTask): number {
  let n = 0;
  for (let j = stage.first; j <= stage.last; j++) {
    const b = boxAtLevel(scales, stage, task.box, j);
    const C = scales[j].chunk_sizes[0];
    const o = scales[j].voxel_offset ?? [0, 0, 0];
    let cells = 1;
    for (let d = 0; d < 3; d++) {
      cells *= Math.ceil((b.max[d] - o[d]) / C[d]) - Math.floor((b.min[d] - o[d]) / C[d]);
    }
    n += cells;
  }
  return n;
}
