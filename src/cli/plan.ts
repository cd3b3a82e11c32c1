import type { Command } from "commander";
import { bossTasks, countBlocks } from "../boss/job.js";
import type { PreparedBoss } from "../boss/prepare.js";
import type { Box } from "../ops/bbox.js";
import { BASE_BYTES, stageTasks } from "../tasks/plan.js";
import type { PreparedJob } from "../tasks/run.js";
import { registerIngest } from "./ingest.js";
import { formatBytes } from "./parse.js";

/**
 * `voxport plan SOURCE DESTINATION [ingest options] --print`: ndpush's gen_commands, for any
 * sink. It plans exactly as `voxport ingest` would (same options, same planner), writes nothing,
 * and prints the tasks, how the z range splits over `--workers` workers and the memory each
 * needs, then the commands that run it: one enqueue, then workers on any machines.
 */

export interface WorkerShare {
  worker: number;
  /** [first z, end z) of this worker's tasks. */
  z: [number, number];
  tasks: number;
}

/**
 * Split tasks (in their planned order: z-major) into `workers` contiguous runs of nearly equal
 * length, the way gen_commands hands each worker a z range. With a queue the split is only a
 * picture: workers take whatever task is next, so nobody idles while others work.
 */
export function splitByZ(tasks: readonly { box: Box }[], workers: number): WorkerShare[] {
  const n = Math.max(1, Math.min(workers, tasks.length));
  const out: WorkerShare[] = [];
  let start = 0;
  for (let w = 0; w < n; w++) {
    const end = Math.round(((w + 1) * tasks.length) / n);
    const run = tasks.slice(start, end);
    if (run.length === 0) continue;
    const z0 = Math.min(...run.map((t) => t.box.min[2]));
    const z1 = Math.max(...run.map((t) => t.box.max[2]));
    out.push({ worker: w, z: [z0, z1], tasks: run.length });
    start = end;
  }
  return out;
}

function shares(lines: string[], split: WorkerShare[], perWorker: number, zOf = ""): void {
  lines.push(
    `workers: ${split.length}, each needs ~${formatBytes(perWorker)} (one task at a time)`,
  );
  for (const s of split) {
    lines.push(`  worker ${s.worker}: z ${s.z[0]}–${s.z[1]}${zOf} (${s.tasks} task(s))`);
  }
  lines.push(
    `memory: ~${formatBytes(perWorker * split.length + BASE_BYTES)} in total on one machine ` +
      `(${formatBytes(BASE_BYTES)} for the process itself)`,
  );
}

function commands(lines: string[], argv: readonly string[], workers: number): void {
  const args = argv.filter((a) => a !== "--print" && a !== "plan");
  const q = "fq://./voxport-queue";
  lines.push("commands (the queue may be fq://, redis:// or sqs://; run workers anywhere):");
  lines.push(`  voxport ingest ${args.join(" ")} --queue ${q}`);
  lines.push(
    `  voxport work ${q} --workers 1 --exit-when-empty &   # × ${workers}, on one or many machines`,
  );
}

export function bossPlanText(p: PreparedBoss, argv: readonly string[] = []): string {
  const { job } = p;
  const tasks = [...bossTasks(job)];
  const lines = [
    `source: ${p.sourceDescription} — ${[0, 1, 2].map((d) => job.extent.max[d] - job.extent.min[d]).join("×")}`,
    `sink:   BOSS ${job.target.protocol}://${job.target.host} ${job.target.collection}/${job.target.experiment}/${job.target.channel}` +
      ` (${job.channelType} ${job.datatype}${job.sourceChannel ? `, source channel ${job.sourceChannel}` : ""})`,
    `extent: x ${job.extent.min[0]}–${job.extent.max[0]}, y ${job.extent.min[1]}–${job.extent.max[1]}, z ${job.extent.min[2]}–${job.extent.max[2]}` +
      (job.shift.some((v) => v)
        ? ` (shifted by ${job.shift.join(",")}; recorded as offsets metadata)`
        : ""),
    `blocks: ${countBlocks(job)} of ≤ ${job.blockSize.join("×")} aligned to 512×512×16 cuboids; all-zero blocks are skipped`,
    `tasks:  ${p.tasks} (kind boss-block), each ${job.zPerTask} slices × ${Math.min(job.bandRows, job.extent.max[1] - job.extent.min[1])} rows × full width, ~${formatBytes(p.taskBytes)} each` +
      (p.overBudget ? " (OVER BUDGET: raise --memory)" : ""),
  ];
  const shown = tasks.slice(0, 6).map((t) => `  ${t.id}`);
  lines.push(
    ...shown,
    ...(tasks.length > shown.length ? [`  … ${tasks.length - shown.length} more`] : []),
  );
  shares(lines, splitByZ(tasks, p.workers), p.taskBytes);
  commands(lines, argv, p.workers);
  return `${lines.join("\n")}\n`;
}

export function ingestPlanText(p: PreparedJob, argv: readonly string[] = []): string {
  const { job } = p;
  const scales = job.info.scales;
  const lines = [
    `source: ${p.sourceDescription} — ${p.sourceSize.join("×")} ${job.info.data_type}`,
    `sink:   precomputed ${job.destination}: ${scales.length} scale(s) (${scales.map((s) => s.key).join(", ")})`,
  ];
  job.stages.forEach((s, i) => {
    lines.push(
      `stage ${i}: scale${s.first === s.last ? ` ${s.first}` : `s ${s.first}-${s.last}`}, ` +
        `${p.taskCounts[i]} task(s) of ${s.taskChunks.join("×")} chunks, ~${formatBytes(s.taskBytes)} each` +
        (i > 0 ? " (start as their inputs finish)" : ""),
    );
  });
  const first = [...stageTasks(scales, job.stages[0], 0)];
  const shown = first.slice(0, 6).map((t) => `  ${t.id}`);
  lines.push(
    ...shown,
    ...(first.length > shown.length ? [`  … ${first.length - shown.length} more`] : []),
  );
  const perWorker = Math.max(...job.stages.map((s) => s.taskBytes));
  const top = scales[job.stages[0].last];
  const zOf = job.stages[0].last === 0 ? "" : ` at scale ${top.key} (stage 0's top)`;
  shares(lines, splitByZ(first, Math.max(1, p.workers)), perWorker, zOf);
  commands(lines, argv, Math.max(1, p.workers));
  return `${lines.join("\n")}\n`;
}

export function registerPlan(program: Command): void {
  const cmd = registerIngest(program, "plan");
  cmd
    .description(
      "Plan an ingest without running it: the tasks, the z range each of --workers workers would\n" +
        "take and the memory each needs, then the commands that run it on a queue (ndpush's\n" +
        "gen_commands). Takes every option of `voxport ingest`; writes nothing.\n\n" +
        "Example:\n  voxport plan ./sections boss://lab/em/raw --resolution 4,4,40 --workers 4 --print",
    )
    .option("--print", "print the plan (the default; kept for gen_commands users)");
}
