import type { Vec3 } from "../ops/array.js";
import { type Box, intersect, isEmptyBox } from "../ops/bbox.js";
import type { ScaleInfo } from "../precomputed/types.js";
import type { IngestTask, StageSpec } from "./job.js";
import { taskId } from "./job.js";
import { boxAtLevel, cumulativeFactor, levelStep, scaleBox } from "./plan.js";

/**
 * Dependencies between the stages of a plan, as pure functions (queue runs use them; a local
 * run has a barrier between stages instead). A task of stage s+1 reads scale
 * `stages[s+1].first - 1` = `stages[s].last`; it depends on ("is the parent of") the stage-s
 * tasks whose boxes intersect that footprint. Stages are contiguous, so this covers the whole
 * pyramid. A convert job copies each scale from its source and needs no ordering, but the same
 * rule applies to it (as the local run's barrier does), which keeps one code path.
 *
 * Every task of the last stage is a child of one more node, the publish step (PUBLISH_ID),
 * which writes provenance and info once everything else is done.
 */

export const PUBLISH_ID = "publish";

interface Grid {
  origin: Vec3;
  step: Vec3;
  bounds: Box;
  counts: Vec3;
}

function gridOf(scales: ScaleInfo[], stage: StageSpec): Grid {
  const top = scales[stage.last];
  const C = top.chunk_sizes[0];
  const bounds = scaleBox(top);
  const step = [0, 1, 2].map((d) => stage.taskChunks[d] * C[d]) as Vec3;
  const counts = [0, 1, 2].map((d) => Math.ceil((bounds.max[d] - bounds.min[d]) / step[d])) as Vec3;
  return { origin: bounds.min, step, bounds, counts };
}

function taskAt(g: Grid, stageIndex: number, i: Vec3): IngestTask {
  const min = [0, 1, 2].map((d) => g.origin[d] + i[d] * g.step[d]) as Vec3;
  const max = [0, 1, 2].map((d) => Math.min(min[d] + g.step[d], g.bounds.max[d])) as Vec3;
  const box = { min, max };
  return { id: taskId(stageIndex, box), stage: stageIndex, box };
}

/** Grid cells of `g` whose tasks may intersect `b` (a box in the grid's scale), as index
 * ranges [lo, hi) per axis, clipped to the grid. */
function cellRange(g: Grid, b: Box): { lo: Vec3; hi: Vec3 } {
  const lo = [0, 1, 2].map((d) =>
    Math.max(0, Math.floor((b.min[d] - g.origin[d]) / g.step[d])),
  ) as Vec3;
  const hi = [0, 1, 2].map((d) =>
    Math.min(g.counts[d], Math.ceil((b.max[d] - g.origin[d]) / g.step[d])),
  ) as Vec3;
  return { lo, hi };
}

function* cells(lo: Vec3, hi: Vec3): Generator<Vec3> {
  for (let z = lo[2]; z < hi[2]; z++) {
    for (let y = lo[1]; y < hi[1]; y++) {
      for (let x = lo[0]; x < hi[0]; x++) yield [x, y, z];
    }
  }
}

/** The box, at scale `stages[t.stage].first - 1`, that task `t` (stage ≥ 1) reads. */
export function inputFootprint(scales: ScaleInfo[], stages: StageSpec[], t: IngestTask): Box {
  const stage = stages[t.stage];
  const first = stage.first;
  const level = boxAtLevel(scales, stage, t.box, first);
  const f = levelStep(scales, first);
  return intersect(
    {
      min: level.min.map((v, d) => v * f[d]) as Vec3,
      max: level.max.map((v, d) => v * f[d]) as Vec3,
    },
    scaleBox(scales[first - 1]),
  );
}

/** The stage-(s-1) tasks that task `t` of stage s ≥ 1 waits for. */
export function childrenOf(scales: ScaleInfo[], stages: StageSpec[], t: IngestTask): IngestTask[] {
  if (t.stage === 0) return [];
  const below = t.stage - 1;
  const g = gridOf(scales, stages[below]);
  const f = inputFootprint(scales, stages, t);
  const { lo, hi } = cellRange(g, f);
  const out: IngestTask[] = [];
  for (const i of cells(lo, hi)) {
    const c = taskAt(g, below, i);
    if (!isEmptyBox(intersect(c.box, f))) out.push(c);
  }
  return out;
}

/** The stage-(s+1) tasks that wait for task `t` of stage s (none for the last stage). */
export function parentsOf(scales: ScaleInfo[], stages: StageSpec[], t: IngestTask): IngestTask[] {
  const up = t.stage + 1;
  if (up >= stages.length) return [];
  const next = stages[up];
  const g = gridOf(scales, next);
  // t.box is at scale `next.first - 1`; bring it to the next stage's top scale, rounding
  // outward, then keep the candidates whose footprint really meets it.
  const Fk = cumulativeFactor(scales, next.last);
  const Fb = cumulativeFactor(scales, next.first - 1);
  const approx: Box = {
    min: [0, 1, 2].map((d) => Math.floor(t.box.min[d] / (Fk[d] / Fb[d])) - 1) as Vec3,
    max: [0, 1, 2].map((d) => Math.ceil(t.box.max[d] / (Fk[d] / Fb[d])) + 1) as Vec3,
  };
  const { lo, hi } = cellRange(g, approx);
  const out: IngestTask[] = [];
  for (const i of cells(lo, hi)) {
    const p = taskAt(g, up, i);
    if (!isEmptyBox(intersect(inputFootprint(scales, stages, p), t.box))) out.push(p);
  }
  return out;
}

/** Tasks of stage 0 nearest the centre of the volume (`--test`), at most `n`. */
export function centreTasks(scales: ScaleInfo[], stages: StageSpec[], n: number): IngestTask[] {
  const g = gridOf(scales, stages[0]);
  const centre = [0, 1, 2].map((d) => (g.bounds.min[d] + g.bounds.max[d]) / 2);
  const all: { t: IngestTask; d: number }[] = [];
  for (const i of cells([0, 0, 0], g.counts)) {
    const t = taskAt(g, 0, i);
    let d = 0;
    for (let k = 0; k < 3; k++) d += ((t.box.min[k] + t.box.max[k]) / 2 - centre[k]) ** 2;
    all.push({ t, d });
  }
  all.sort((a, b) => a.d - b.d || a.t.id.localeCompare(b.t.id));
  return all.slice(0, n).map((x) => x.t);
}
