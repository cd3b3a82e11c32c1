import { createHash } from "node:crypto";
import { ingestItem, publishItem } from "../queue/message.js";
import { enqueueInFlight, type ParentLink, type Queue, type QueueItem } from "../queue/queue.js";
import { openStore } from "../storage/registry.js";
import { centreTasks, childrenOf, parentsOf } from "./deps.js";
import type { IngestJob, IngestTask } from "./job.js";
import { JOB_KEY } from "./job.js";
import { countStageTasks, stageTasks } from "./plan.js";
import { checkDestination, clearDestination, type PreparedJob } from "./run.js";

/**
 * Putting a planned job on a queue instead of running it (`voxport ingest … --queue URL`,
 * `voxport enqueue JOB.json --queue URL`): the same destination checks as a local run, the job
 * description written to `<destination>/.voxport/job.json` for the workers, then only the
 * stage-0 tasks. Later stages are enqueued by the queue's dependency tracker as their inputs
 * complete (each parent with the count of children it waits for, computed by deps.ts when a
 * child completes), and the last stage's tasks release the publish step.
 */

/** Tasks `--test` enqueues: the stage-0 tasks nearest the volume centre (PyChunkedGraph's 8). */
export const TEST_TASKS = 8;

export interface QueueJobRecord {
  destination: string;
  source: string;
  stages: { first: number; last: number; tasks: number; scales: string }[];
  /** The publish step's stage number (= stages.length). */
  publishStage: number;
  test: boolean;
  enqueuedAt: number;
}

export interface EnqueueSummary {
  state: "fresh" | "resume" | "complete";
  /** Tasks newly put on the queue (ids it already knew are skipped). */
  enqueued: number;
  /** Stage-0 tasks offered (all of them, or the --test few). */
  offered: number;
  totals: number[];
  test: boolean;
}

/** Short, stable tag of a job on a shared queue (task ids are prefixed with it). */
export function jobTag(destination: string): string {
  return createHash("sha256").update(destination).digest("hex").slice(0, 8);
}

export function taskItem(job: IngestJob, task: IngestTask): QueueItem {
  const item = ingestItem(job.destination, task);
  return { ...item, id: `${jobTag(job.destination)}.${item.id}` };
}

export function publishTaskItem(job: IngestJob): QueueItem {
  const item = publishItem(job.destination, job.stages.length);
  return { ...item, id: `${jobTag(job.destination)}.${item.id}` };
}

/** What completing `task` releases: its parents in the next stage (each with the number of
 * children it waits for), or the publish step for a task of the last stage. */
export function parentLinks(job: IngestJob, task: IngestTask): ParentLink[] {
  const scales = job.info.scales;
  if (task.stage === job.stages.length - 1) {
    const expected = countStageTasks(scales, job.stages[task.stage]);
    return [{ item: publishTaskItem(job), expected }];
  }
  return parentsOf(scales, job.stages, task).map((p) => ({
    item: taskItem(job, p),
    expected: childrenOf(scales, job.stages, p).length,
  }));
}

export function jobRecord(p: PreparedJob, test: boolean): QueueJobRecord {
  const scales = p.job.info.scales;
  return {
    destination: p.job.destination,
    source: p.job.source.input,
    stages: p.job.stages.map((s, i) => ({
      first: s.first,
      last: s.last,
      tasks: p.taskCounts[i],
      scales:
        s.first === s.last ? scales[s.first].key : `${scales[s.first].key}…${scales[s.last].key}`,
    })),
    publishStage: p.job.stages.length,
    test,
    enqueuedAt: Date.now(),
  };
}

const ENQUEUE_CHUNK = 10_000;

export async function enqueueJob(
  p: PreparedJob,
  queue: Queue,
  opts: { test?: boolean } = {},
): Promise<EnqueueSummary> {
  const { job } = p;
  const test = opts.test ?? false;
  const store = openStore(job.destination);
  const totals = [...p.taskCounts, 1];
  const state = await checkDestination(store, p);
  if (state === "complete") return { state, enqueued: 0, offered: 0, totals, test };
  if (state === "fresh" && p.overwrite) await clearDestination(store);
  await store.put(JOB_KEY, new TextEncoder().encode(JSON.stringify(job, null, 1)), {
    contentType: "application/json",
  });
  await queue.setMeta(`job:${jobTag(job.destination)}`, JSON.stringify(jobRecord(p, test)));
  const scales = job.info.scales;
  const tasks = test
    ? centreTasks(scales, job.stages, TEST_TASKS)
    : [...stageTasks(scales, job.stages[0], 0)];
  // Chunks of 10,000 (bounded memory for the messages), a few calls in flight.
  const chunks = function* () {
    for (let i = 0; i < tasks.length; i += ENQUEUE_CHUNK) {
      yield () => queue.enqueue(tasks.slice(i, i + ENQUEUE_CHUNK).map((t) => taskItem(job, t)));
    }
  };
  const enqueued = await enqueueInFlight(chunks());
  return { state, enqueued, offered: tasks.length, totals, test };
}
