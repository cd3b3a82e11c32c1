import {
  openTaskContext,
  runIngestTask,
  type TaskContext,
  type TaskEvent,
  type TaskResult,
} from "../tasks/ingest-task.js";
import type { IngestJob, IngestTask } from "../tasks/job.js";

/** A message a worker runs: today ingest tasks; the queue issue adds more kinds. */
export interface IngestMessage {
  kind: "ingest";
  job: IngestJob;
  task: IngestTask;
}

// One open context per job: reopening the source for every task would re-read every header.
const contexts = new Map<string, Promise<TaskContext>>();

function contextFor(job: IngestJob): Promise<TaskContext> {
  const key = `${job.destination}\n${job.source.input}`;
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = openTaskContext(job);
    contexts.set(key, ctx);
    ctx.catch(() => contexts.delete(key));
  }
  return ctx;
}

export async function executeMessage(
  message: unknown,
  emit?: (e: TaskEvent) => void,
): Promise<TaskResult> {
  const m = message as IngestMessage;
  if (m?.kind !== "ingest") throw new Error(`unknown task kind: ${JSON.stringify(m?.kind)}`);
  const ctx = await contextFor(m.job);
  return runIngestTask(ctx, m.task, undefined, emit);
}
