import type { Command } from "commander";
import { loadBossConfig } from "../boss/config.js";
import { bossUrl, boxKey, countBlocks } from "../boss/job.js";
import { bossJobTag } from "../boss/messages.js";
import { parseBossUrl, prepareBossIngest } from "../boss/prepare.js";
import { enqueueBossJob, runBossJob } from "../boss/run.js";
import { VoxportError } from "../errors.js";
import { JobLog } from "../notify/job-log.js";
import { type JobOutcome, withJobReport } from "../notify/report.js";
import type { Box } from "../ops/bbox.js";
import { openQueue, redactUrl } from "../queue/open.js";
import type { PreparedJob } from "../tasks/run.js";
import { logger } from "./log.js";
import type { NotifyFlags } from "./options.js";
import { formatBytes, formatDuration, parseBoxArg, parseIntIn } from "./parse.js";
import { bossPlanText, ingestPlanText } from "./plan.js";
import { ProgressBar } from "./progress.js";
import { parseDuration } from "./work.js";

/**
 * The BOSS side of `voxport ingest SRC boss://coll/exp/ch` (and of `voxport plan`): the options,
 * the early token check, and running or enqueueing the planned job. The source is planned by the
 * ordinary ingest planner first (every input kind, --contrast, --offset work the same), then
 * placed in BOSS coordinates by src/boss/prepare.ts.
 */

export interface BossFlags extends NotifyFlags {
  bossConfig?: string;
  bossSourceChannel?: string;
  offsetExtents?: boolean;
  bossFrame?: Box;
  bossVerify: boolean;
  postAttempts: number;
  postBackoff: number;
  memory: number;
  workers: number;
  dryRun?: boolean;
  json?: boolean;
  queue?: string;
}

export function isBossUrl(s: string | undefined): boolean {
  return typeof s === "string" && s.startsWith("boss://");
}

export function addBossOptions(cmd: Command): Command {
  return cmd
    .option(
      "--boss-config <file>",
      "BOSS destination: intern config ([Default] protocol, host, token; default ~/.intern/intern.cfg; BOSS_HOST/BOSS_TOKEN override)",
    )
    .option(
      "--boss-source-channel <name>",
      "BOSS destination with --type segmentation: the image channel the annotation channel annotates",
    )
    .option(
      "--offset-extents",
      "BOSS destination: shift negative extents to 0 and record the shift as the experiment's offsets metadata",
    )
    .option(
      "--boss-frame <x0,y0,z0:x1,y1,z1>",
      "BOSS destination: coordinate frame of a new experiment (default: the data extent)",
      (v: string) => parseBoxArg(v),
    )
    .option("--no-boss-verify", "BOSS destination: skip reading a random slice back at the end")
    .option(
      "--post-attempts <n>",
      "BOSS destination: attempts per block POST",
      parseIntIn("--post-attempts", 1, 20),
      3,
    )
    .option(
      "--post-backoff <duration>",
      "BOSS destination: wait after the first failed POST, doubling after each (e.g. 2s, 500ms)",
      parseDuration,
      2000,
    );
}

/** Before any slice is read: a bad URL or a missing token fails at once. */
export function checkBossDestination(destination: string, flags: BossFlags): void {
  parseBossUrl(destination);
  loadBossConfig({ file: flags.bossConfig });
}

function defaultLogPath(destination: string): string {
  const t = parseBossUrl(destination);
  return `voxport-boss-${t.collection}_${t.experiment}_${t.channel}.log`;
}

/** `voxport plan` for any sink, and `voxport ingest` into the BOSS. */
export async function planOrBoss(
  prepared: PreparedJob,
  destination: string,
  flags: BossFlags,
  mode: "ingest" | "plan",
): Promise<void> {
  const argv = process.argv.slice(3);
  if (!isBossUrl(destination)) {
    process.stdout.write(ingestPlanText(prepared, argv));
    return;
  }
  const job0 = prepared.job;
  let config: ReturnType<typeof loadBossConfig> | undefined;
  if (mode === "plan") {
    try {
      config = loadBossConfig({ file: flags.bossConfig });
    } catch {
      // A plan needs no token; the host shows as unknown.
      config = { protocol: "https", host: "boss-host-from-config", token: "" };
    }
  }
  const p = await prepareBossIngest({
    source: job0.source,
    destination,
    resolution: job0.info.scales[0].resolution,
    offset: job0.offset,
    type: job0.info.type === "segmentation" ? "segmentation" : "image",
    sourceChannel: flags.bossSourceChannel,
    offsetExtents: flags.offsetExtents,
    frame: flags.bossFrame,
    configFile: flags.bossConfig,
    workers: Math.max(1, flags.workers),
    memoryBytes: flags.memory,
    attempts: flags.postAttempts,
    backoffMs: flags.postBackoff,
    verify: flags.bossVerify,
    opened: prepared.source,
    config,
  });
  if (mode === "plan") {
    process.stdout.write(bossPlanText(p, argv));
    return;
  }
  const tty = process.stderr.isTTY === true;
  if (tty || flags.dryRun) process.stderr.write(bossPlanText(p, argv));
  else logger().info({ destination, tasks: p.tasks, taskBytes: p.taskBytes }, "plan");
  if (flags.dryRun) return;

  const { job } = p;
  const tag = bossJobTag(job);
  let fallbackLog: JobLog | undefined;
  let failedTotal = 0;
  const outcome = await withJobReport<JobOutcome>(
    flags,
    "ingest",
    `${job.source.input} → ${bossUrl(job)}`,
    async ({ log }): Promise<JobOutcome> => {
      log?.job(tag, job);
      if (flags.queue) {
        const queue = await openQueue(flags.queue);
        try {
          const s = await enqueueBossJob(p, queue);
          log?.line(`enqueued ${s.enqueued} task(s) on ${redactUrl(flags.queue)}`);
          process.stderr.write(
            `resources: ${s.resources.created.length ? `created ${s.resources.created.join(", ")}` : "all existed"}\n` +
              `enqueued ${s.enqueued} task(s) on ${redactUrl(flags.queue)}` +
              (s.enqueued < s.offered ? ` (${s.offered - s.enqueued} already on it)` : "") +
              `\nstart workers (any number, on machines that reach the source and the BOSS, each with its own token):\n` +
              `  voxport work ${flags.queue} --workers ${Math.max(1, flags.workers)} --exit-when-empty --log worker.log\n`,
          );
          return { counts: { "tasks enqueued": s.enqueued } };
        } finally {
          await queue.close();
        }
      }
      const bar = tty ? new ProgressBar(process.stderr, "boss") : undefined;
      const totalBlocks = countBlocks(job);
      const controller = new AbortController();
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
        process.stderr.write(
          "\nvoxport: interrupted; finishing running tasks (Ctrl-C again to stop now)\n",
        );
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      let summary: Awaited<ReturnType<typeof runBossJob>>;
      try {
        summary = await runBossJob(p, {
          signal: controller.signal,
          onResources: (r) => {
            const text = `resources: ${r.created.length ? `created ${r.created.join(", ")}` : "all existed"} (coordinate frame ${r.coordFrame})`;
            log?.line(text);
            if (tty) process.stderr.write(`${text}\n`);
          },
          onProgress: (e) =>
            bar?.update(e.blocksDone, totalBlocks, e.voxelsRead, e.tasksDone === e.tasksTotal),
          onBlockFailed: (f) => {
            failedTotal++;
            let target = log;
            if (!target) {
              fallbackLog ??= new JobLog(defaultLogPath(destination));
              if (failedTotal === 1) fallbackLog.job(tag, job);
              target = fallbackLog;
            }
            target.failedBlock(tag, f.box, f.error);
            if (!tty) logger().warn({ block: boxKey(f.box), error: f.error }, "block failed");
          },
        });
      } finally {
        bar?.finish();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      if (summary.verify) {
        log?.line(
          `verification of z=${summary.verify.z}: ${summary.verify.match ? "match" : `${summary.verify.mismatched} of ${summary.verify.voxels} voxels differ`}`,
        );
      }
      if (flags.json)
        process.stdout.write(`${JSON.stringify({ ...summary, failed: summary.failed.length })}\n`);
      process.stderr.write(
        `done in ${formatDuration(summary.seconds)}: ${summary.blocksPosted} block(s) posted ` +
          `(${formatBytes(summary.bytesPosted)} blosc), ${summary.blocksEmpty} empty skipped` +
          (summary.blocksFailed ? `, ${summary.blocksFailed} FAILED` : "") +
          (summary.verify
            ? `; read-back of z=${summary.verify.z}: ${summary.verify.match ? "matches" : `${summary.verify.mismatched} voxel(s) differ`}`
            : "") +
          "\n",
      );
      const logPath = flags.log ?? fallbackLog?.path;
      const incomplete = summary.blocksFailed
        ? `${summary.blocksFailed} block(s) failed after ${job.attempts} attempt(s); re-post them with: voxport retry-log ${logPath}`
        : summary.verify && !summary.verify.match
          ? `read-back of z=${summary.verify.z} differs from the source in ${summary.verify.mismatched} voxel(s)`
          : undefined;
      return {
        counts: {
          "blocks posted": summary.blocksPosted,
          "empty blocks skipped": summary.blocksEmpty,
          "blocks failed": summary.blocksFailed,
        },
        incomplete,
      };
    },
  );
  if (outcome.incomplete) throw new VoxportError("STORAGE", outcome.incomplete);
}
