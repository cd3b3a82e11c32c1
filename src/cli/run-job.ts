import { bytesPerVoxel } from "../ops/array.js";
import type { PrecomputedInfo } from "../precomputed/types.js";
import { type PreparedJob, runJob } from "../tasks/run.js";
import { buildViewerState, isRemote, remoteSource } from "../viewer/state.js";
import { logger } from "./log.js";
import { formatBytes, formatDuration } from "./parse.js";
import { ProgressBar } from "./progress.js";

/**
 * What `ingest` and `convert` do once a job is planned: show the plan, run it with a progress
 * bar (terminal) or JSON log lines (anything else), handle Ctrl-C / SIGTERM (finish running
 * tasks, leave the rest for a rerun), and report.
 */
export async function runPreparedJob(
  prepared: PreparedJob,
  opts: { verb: string; destination: string; dryRun?: boolean; json?: boolean },
): Promise<void> {
  const { job } = prepared;
  const tty = process.stderr.isTTY === true;
  const log = logger();
  const scales = job.info.scales;
  const totalTasks = prepared.taskCounts.reduce((a, b) => a + b, 0);
  const stageText = job.stages
    .map(
      (s, i) =>
        `stage ${i}: scale${s.first === s.last ? ` ${s.first}` : `s ${s.first}-${s.last}`}, ` +
        `${prepared.taskCounts[i]} task(s) of ${s.taskChunks.join("×")} chunks`,
    )
    .join("\n       ");
  const largest = Math.max(...job.stages.map((s) => s.taskBytes));
  if (tty || opts.dryRun) {
    process.stderr.write(
      `source: ${prepared.sourceDescription} — ${prepared.sourceSize.join("×")} ${job.info.data_type}` +
        (job.info.num_channels > 1 ? ` × ${job.info.num_channels} channels` : "") +
        `\ntarget: ${scales.length} scales (${scales.map((s) => s.key).join(", ")}), ` +
        `${scales[0].encoding}${scales[0].sharding ? ", sharded" : ""}` +
        `\nplan:  ${totalTasks} task(s) in ${job.stages.length} stage(s)\n       ${stageText}` +
        `\nmemory: ${formatBytes(prepared.memoryBytes)} over ${Math.max(1, prepared.workers)} worker(s) → ` +
        `≤ ${formatBytes(prepared.taskBudget)} per task; largest task ~${formatBytes(largest)}` +
        (prepared.overBudget ? " (OVER BUDGET: raise --memory or lower --chunk-size)" : "") +
        "\n",
    );
  } else {
    log.info(
      {
        source: prepared.sourceDescription,
        size: prepared.sourceSize,
        dtype: job.info.data_type,
        scales: scales.map((s) => s.key),
        stages: job.stages,
        tasks: totalTasks,
        memoryBytes: prepared.memoryBytes,
        taskBudget: prepared.taskBudget,
      },
      "plan",
    );
  }
  if (opts.dryRun) return;

  const bar = tty ? new ProgressBar(process.stderr, opts.verb) : undefined;
  let lastLog = 0;
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    process.stderr.write(
      `\nvoxport: interrupted; finishing running tasks (Ctrl-C again to stop now). ` +
        "Rerun the same command to resume.\n",
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const bpv = bytesPerVoxel(job.info.data_type);
  let sourceBytes = 0;
  const summary = await runJob(prepared, {
    signal: controller.signal,
    onStart: ({ resumed }) => {
      if (resumed === 0) return;
      if (tty) process.stderr.write(`resuming: ${resumed} of ${totalTasks} tasks already done\n`);
      else log.info({ resumed, total: totalTasks }, "resuming");
    },
    onProgress: (e) => {
      const finished = e.tasksDone === e.tasksTotal;
      sourceBytes = e.sourceVoxels * bpv;
      bar?.update(e.chunksDone, e.chunksTotal, sourceBytes, finished);
      const now = Date.now();
      if (!tty && (now - lastLog > 2000 || finished)) {
        lastLog = now;
        log.info({ ...e }, "progress");
      }
    },
  });
  bar?.finish();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (opts.json) {
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(`${JSON.stringify({ ...summary, sourceBytes, peakRssBytes })}\n`);
  }
  if (summary.status === "already-complete") {
    process.stderr.write(
      `${opts.destination} already holds this dataset, complete; nothing to do.\n`,
    );
  } else if (tty) {
    const rate = summary.seconds > 0 ? sourceBytes / summary.seconds : 0;
    process.stderr.write(
      `done in ${formatDuration(summary.seconds)}: ${summary.chunksWritten} chunks written` +
        (summary.chunksSkipped ? `, ${summary.chunksSkipped} empty chunks skipped` : "") +
        `, ${formatBytes(summary.bytesWritten)} stored` +
        (summary.resumed ? `, ${summary.resumed} tasks resumed` : "") +
        ` (${formatBytes(rate)}/s of source)\n`,
    );
  } else {
    log.info(summary, "done");
  }
  if (!opts.json && summary.status === "completed") printNextSteps(opts.destination, job.info);
}

/** Where to look next: the view command, and for cloud destinations the Neuroglancer state
 * that reads the dataset directly (needs a public-read bucket with CORS). */
function printNextSteps(destination: string, info: PrecomputedInfo): void {
  process.stderr.write(`look at it: voxport view ${destination}\n`);
  if (!isRemote(destination)) return;
  const state = buildViewerState([
    { location: destination, source: remoteSource(destination), info },
  ]);
  process.stderr.write(`Neuroglancer state for it:\n${JSON.stringify(state)}\n`);
}
