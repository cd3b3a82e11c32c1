import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Vec3 } from "../../src/ops/array.js";
import { intersect, isEmptyBox } from "../../src/ops/bbox.js";
import { buildScales } from "../../src/precomputed/pyramid.js";
import type { ScaleInfo } from "../../src/precomputed/types.js";
import { centreTasks, childrenOf, inputFootprint, parentsOf } from "../../src/tasks/deps.js";
import { parentLinks } from "../../src/tasks/enqueue.js";
import type { IngestJob, IngestTask, StageSpec } from "../../src/tasks/job.js";
import { planStages, stageTasks } from "../../src/tasks/plan.js";

/**
 * deps.ts against the planner: for plans of several shapes (anisotropic, offset, odd sizes,
 * tiny budgets that make many stages), parents and children agree with each other, children
 * are real tasks of the stage below, and together they cover every voxel a task reads.
 */

interface Case {
  name: string;
  size: Vec3;
  resolution: Vec3;
  chunk: Vec3;
  offset?: Vec3;
  memory: number;
}

const CASES: Case[] = [
  {
    name: "anisotropic EM",
    size: [192, 160, 48],
    resolution: [4, 4, 40],
    chunk: [16, 16, 8],
    memory: 100 * 1024,
  },
  {
    name: "isotropic, odd sizes",
    size: [101, 77, 53],
    resolution: [8, 8, 8],
    chunk: [8, 8, 8],
    memory: 48 * 1024,
  },
  {
    name: "offset volume",
    size: [130, 90, 40],
    resolution: [4, 4, 40],
    chunk: [16, 16, 4],
    offset: [32, -16, 8],
    memory: 64 * 1024,
  },
  {
    name: "bigger budget",
    size: [512, 384, 96],
    resolution: [4, 4, 40],
    chunk: [32, 32, 16],
    memory: 6 * 1024 ** 2,
  },
];

function plan(c: Case): { scales: ScaleInfo[]; stages: StageSpec[] } {
  const scales = buildScales(
    {
      size: c.size,
      voxelOffset: c.offset ?? [0, 0, 0],
      resolution: c.resolution,
      chunkSize: c.chunk,
      encoding: "raw",
    },
    {},
  );
  const { stages } = planStages(scales, {
    memoryBytes: c.memory,
    workers: 1,
    bytesPerVoxel: 1,
    channels: 1,
  });
  return { scales, stages };
}

describe("task dependencies (deps.ts)", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const { scales, stages } = plan(c);
      assert.ok(stages.length >= 2, `${c.name}: a plan with several stages (${stages.length})`);
      const all = stages.map((s, i) => [...stageTasks(scales, s, i)]);
      const ids = all.map((ts) => new Set(ts.map((t) => t.id)));
      const parentsOfChild = new Map<string, string[]>();
      for (let s = 0; s + 1 < stages.length; s++) {
        for (const t of all[s])
          parentsOfChild.set(
            t.id,
            parentsOf(scales, stages, t).map((p) => p.id),
          );
      }
      for (let s = 1; s < stages.length; s++) {
        const childCount = new Map<string, number>();
        for (const p of all[s]) {
          const kids = childrenOf(scales, stages, p);
          assert.ok(kids.length > 0, `${p.id} has children`);
          for (const k of kids) {
            assert.ok(ids[s - 1].has(k.id), `${k.id} is a task of stage ${s - 1}`);
            assert.ok(
              parentsOfChild.get(k.id)?.includes(p.id),
              `${k.id} names ${p.id} as a parent`,
            );
            childCount.set(k.id, (childCount.get(k.id) ?? 0) + 1);
          }
          // The children cover the footprint: every voxel read comes from one of them.
          const f = inputFootprint(scales, stages, p);
          let covered = 0;
          for (const k of kids) {
            const i = intersect(k.box, f);
            if (!isEmptyBox(i))
              covered += (i.max[0] - i.min[0]) * (i.max[1] - i.min[1]) * (i.max[2] - i.min[2]);
          }
          const volume = (f.max[0] - f.min[0]) * (f.max[1] - f.min[1]) * (f.max[2] - f.min[2]);
          assert.equal(covered, volume, `${p.id}: children cover its footprint exactly once`);
        }
        // Every parent a child names lists that child back.
        for (const t of all[s - 1]) {
          for (const pid of parentsOfChild.get(t.id) ?? []) {
            const p = all[s].find((x) => x.id === pid)!;
            assert.ok(childrenOf(scales, stages, p).some((k) => k.id === t.id));
          }
          assert.ok((childCount.get(t.id) ?? 0) > 0, `${t.id} feeds some parent`);
        }
      }
      const last = stages.length - 1;
      for (const t of all[last]) assert.deepEqual(parentsOf(scales, stages, t), []);
    });
  }

  test("--test picks the tasks nearest the centre", () => {
    const { scales, stages } = plan(CASES[0]);
    const picked = centreTasks(scales, stages, 8);
    assert.equal(picked.length, 8);
    const centre: Vec3 = [96, 80, 24];
    const s0 = scales[stages[0].last];
    const f = s0.resolution[0] / scales[0].resolution[0];
    const dist = (t: IngestTask) =>
      [0, 1, 2].reduce(
        (n, d) => n + (((t.box.min[d] + t.box.max[d]) / 2) * (d < 2 ? f : 1) - centre[d]) ** 2,
        0,
      );
    const all = [...stageTasks(scales, stages[0], 0)];
    const worstPicked = Math.max(...picked.map(dist));
    const closerLeft = all.filter(
      (t) => !picked.some((p) => p.id === t.id) && dist(t) < worstPicked - 1e-9,
    );
    assert.deepEqual(closerLeft, [], "no unpicked task is nearer the centre");
  });

  test("the last stage releases the publish step; parent links carry child counts", () => {
    const { scales, stages } = plan(CASES[0]);
    const job = { destination: "file:///d", info: { scales }, stages } as unknown as IngestJob;
    const lastTasks = [...stageTasks(scales, stages[stages.length - 1], stages.length - 1)];
    const links = parentLinks(job, lastTasks[0]);
    assert.equal(links.length, 1);
    assert.match(links[0].item.id, /^[0-9a-f]{8}\.publish$/);
    assert.equal(links[0].item.stage, stages.length);
    assert.equal(links[0].expected, lastTasks.length);
    const t0 = [...stageTasks(scales, stages[0], 0)][0];
    for (const l of parentLinks(job, t0)) {
      assert.equal(l.item.stage, 1);
      assert.ok(l.expected >= 1);
      const body = JSON.parse(l.item.body);
      assert.equal(body.kind, "ingest");
      assert.equal(body.task.stage, 1);
      assert.equal(l.item.id.slice(9), body.task.id);
    }
  });
});
