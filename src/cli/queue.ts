import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { VoxportError } from "../errors.js";
import { openQueue, redactUrl } from "../queue/open.js";
import { enqueueJob, TEST_TASKS } from "../tasks/enqueue.js";
import type { IngestJob } from "../tasks/job.js";
import { countStageTasks } from "../tasks/plan.js";
import type { PreparedJob } from "../tasks/run.js";
import { runPreparedJob } from "./run-job.js";

/**
 * `voxport queue retry-failed|purge|release QUEUE` (operating a queue), `voxport enqueue
 * JOB.json --queue QUEUE`, and what `voxport ingest … --queue QUEUE` does once its job is
 * planned (enqueuePrepared).
 */

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Plan shown as for a local run, then the job written to the destination and its stage-0
 * tasks (or the --test few) put on the queue; prints how to start workers and watch. */
export async function enqueuePrepared(
  prepared: PreparedJob,
  opts: { queue: string; test?: boolean; destination: string; dryRun?: boolean; json?: boolean },
): Promise<void> {
  // Workers run elsewhere: a relative path would mean something else there.
  const abs = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : resolve(p));
  prepared.job.destination = abs(prepared.job.destination);
  prepared.job.source = { ...prepared.job.source, input: abs(prepared.job.source.input) };
  // The plan, exactly as a local run prints it (dry-run mode prints and returns).
  await runPreparedJob(prepared, { verb: "enqueue", destination: opts.destination, dryRun: true });
  if (opts.dryRun) return;
  const queue = await openQueue(opts.queue);
  try {
    const s = await enqueueJob(prepared, queue, { test: opts.test });
    const q = shellQuote(opts.queue);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ queue: redactUrl(opts.queue), ...s })}\n`);
    }
    if (s.state === "complete") {
      process.stderr.write(
        `${opts.destination} already holds this dataset, complete; nothing enqueued.\n`,
      );
      return;
    }
    const total = s.totals.reduce((a, b) => a + b, 0);
    process.stderr.write(
      `enqueued ${s.enqueued} task(s) on ${redactUrl(opts.queue)}` +
        (s.enqueued < s.offered ? ` (${s.offered - s.enqueued} already on it)` : "") +
        (s.test
          ? ` — test mode: the ${TEST_TASKS} stage-0 tasks nearest the volume centre\n`
          : `; ${total - s.offered} more follow as their inputs complete (${s.totals.length - 1} stage(s) + publish)\n`) +
        (s.state === "resume"
          ? "resuming: tasks already done in the destination are skipped\n"
          : "") +
        `start workers (any number, any machines that reach the queue and the data):\n` +
        `  voxport work ${q} --workers ${Math.max(1, prepared.workers)} --exit-when-empty\n` +
        `watch progress:\n  voxport status ${q} --watch\n` +
        (s.test
          ? `then, for the full run: voxport queue purge ${q}, and rerun without --test\n`
          : ""),
    );
  } finally {
    await queue.close();
  }
}

export function registerEnqueue(program: Command): void {
  program
    .command("enqueue")
    .description(
      "Put a planned job on a queue: JOBFILE is a job description (.voxport/job.json of a\n" +
        "destination, or one written by hand). Its stage-0 tasks are enqueued; later stages\n" +
        "follow as their inputs complete. Start workers with `voxport work QUEUE`.",
    )
    .argument("<jobfile>", "job description (JSON)")
    .requiredOption("--queue <url>", "queue URL: fq://PATH, redis://HOST:PORT/NAME, sqs://…")
    .option("--test", `enqueue only the ${TEST_TASKS} stage-0 tasks nearest the volume centre`)
    .option("--overwrite", "replace a different dataset or unfinished job at the destination")
    .option("--json", "print the summary as JSON on stdout")
    .action(
      async (
        jobfile: string,
        flags: { queue: string; test?: boolean; overwrite?: boolean; json?: boolean },
      ) => {
        let job: IngestJob;
        try {
          job = JSON.parse(await readFile(jobfile, "utf8")) as IngestJob;
        } catch (e) {
          throw new VoxportError(
            "INVALID_ARGUMENT",
            `${jobfile}: not a readable JSON job (${(e as Error).message})`,
          );
        }
        if (
          job?.version !== 1 ||
          !Array.isArray(job.stages) ||
          !job.info?.scales ||
          !job.destination
        ) {
          throw new VoxportError(
            "INVALID_ARGUMENT",
            `${jobfile} is not a voxport job description (version 1)`,
          );
        }
        const prepared: PreparedJob = {
          job,
          sourceDescription: job.source.input,
          sourceSize: job.info.scales[0].size,
          workers: 1,
          memoryBytes: 0,
          taskBudget: Math.max(...job.stages.map((s) => s.taskBytes)),
          overBudget: false,
          taskCounts: job.stages.map((s) => countStageTasks(job.info.scales, s)),
          overwrite: flags.overwrite ?? false,
        };
        await enqueuePrepared(prepared, {
          queue: flags.queue,
          test: flags.test,
          destination: job.destination,
          json: flags.json,
        });
      },
    );
}

export function registerQueue(program: Command): void {
  const queue = program
    .command("queue")
    .description("Operate a task queue: retry dead-lettered tasks, release leases, purge.");

  queue
    .command("retry-failed")
    .description("Put every dead-lettered task back on the queue with a fresh attempt count.")
    .argument("<queue>", "queue URL")
    .action(async (url: string) => {
      const q = await openQueue(url);
      try {
        const n = await q.retryFailed();
        process.stderr.write(`${n} dead-lettered task(s) put back on ${redactUrl(url)}\n`);
      } finally {
        await q.close();
      }
    });

  queue
    .command("release")
    .description(
      "End every lease now: tasks held by workers (stuck, or on machines that are gone) become\n" +
        "ready again at once. Workers still running them have their results dropped.",
    )
    .argument("<queue>", "queue URL")
    .action(async (url: string) => {
      const q = await openQueue(url);
      try {
        const n = await q.releaseAll();
        process.stderr.write(`${n} lease(s) released on ${redactUrl(url)}\n`);
      } finally {
        await q.close();
      }
    });

  queue
    .command("purge")
    .description("Delete every task, count, dead letter and job record of the queue.")
    .argument("<queue>", "queue URL")
    .action(async (url: string) => {
      const q = await openQueue(url);
      try {
        await q.purge();
        process.stderr.write(`${redactUrl(url)} purged\n`);
      } finally {
        await q.close();
      }
    });
}
