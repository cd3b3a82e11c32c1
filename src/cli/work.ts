import { availableParallelism } from "node:os";
import { type Command, InvalidArgumentError } from "commander";
import { bossJobTag } from "../boss/messages.js";
import type { JobLog } from "../notify/job-log.js";
import { withJobReport } from "../notify/report.js";
import { openQueue, redactUrl } from "../queue/open.js";
import { IngestHandler } from "../worker/handler.js";
import { type WorkerEvent, WorkerLoop } from "../worker/loop.js";
import { ThreadPool } from "../worker/pool.js";
import { logger } from "./log.js";
import { logOption, type NotifyFlags, notifyOption } from "./options.js";
import { parseIntIn } from "./parse.js";

/**
 * `voxport work QUEUE`: a stateless worker. Any number of them, on any machines that reach the
 * queue, the source and the destination, drain a queue filled by `voxport ingest … --queue`.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, "": 1000 };

/** "60s", "2m", "1500ms", "90" (seconds). */
export function parseDuration(value: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|)\s*$/i.exec(value);
  if (!m)
    throw new InvalidArgumentError(`expected a duration like 60s, 2m or 500ms (got "${value}")`);
  const ms = Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]);
  if (!(ms > 0)) throw new InvalidArgumentError(`duration must be positive (got "${value}")`);
  return ms;
}

interface WorkFlags extends NotifyFlags {
  workers: number;
  lease: number;
  wait: number;
  exitWhenEmpty?: boolean;
  maxAttempts: number;
}

export function registerWork(program: Command): void {
  program
    .command("work")
    .description(
      "Run tasks from a queue until stopped (or, with --exit-when-empty, until it is drained).\n\n" +
        "Leases are renewed while tasks run; a task that fails is retried with backoff up to\n" +
        "--max-attempts, and bad input is dead-lettered at once (see `voxport status`).\n" +
        "Ctrl-C / SIGTERM finishes the running tasks and exits; a second one exits at once and\n" +
        "hands the tasks back. A killed worker loses nothing: its leases expire.",
    )
    .argument("<queue>", "queue URL: fq://PATH, redis://HOST:PORT/NAME, sqs://…")
    .option(
      "-w, --workers <n>",
      "tasks run at once, each on its own thread",
      parseIntIn("--workers", 1, 256),
      Math.min(availableParallelism(), 8),
    )
    .option(
      "--lease <duration>",
      "lease length; renewed at half of it while a task runs",
      parseDuration,
      60_000,
    )
    .option(
      "--wait <duration>",
      "how long one idle poll of the queue may wait",
      parseDuration,
      5_000,
    )
    .option("--exit-when-empty", "exit once nothing is pending, retrying or running on the queue")
    .option(
      "--max-attempts <n>",
      "attempts before a failing task is dead-lettered",
      parseIntIn("--max-attempts", 1, 100),
      5,
    )
    .addOption(notifyOption())
    .addOption(logOption())
    .action(async (url: string, flags: WorkFlags) => {
      const log = logger();
      const tty = process.stderr.isTTY === true;
      const queue = await openQueue(url, { maxAttempts: flags.maxAttempts });
      const pool = new ThreadPool(flags.workers);
      const handler = new IngestHandler(pool);
      const where = redactUrl(url);
      const say = (
        line: string,
        fields: Record<string, unknown> = {},
        level: "info" | "warn" = "info",
      ) => {
        if (tty) process.stderr.write(`${line}\n`);
        else log[level](fields, line);
      };
      // The job log (--log): BOSS blocks that failed after retries, for `voxport retry-log`.
      let jobLog: JobLog | undefined;
      const blocks = { posted: 0, failed: 0 };
      const onEvent = (e: WorkerEvent) => {
        switch (e.type) {
          case "done":
            if (e.outcome.boss || e.outcome.verify) {
              const body = JSON.parse(e.lease.body) as { boss: Parameters<typeof bossJobTag>[0] };
              const tag = bossJobTag(body.boss);
              blocks.posted += e.outcome.boss?.blocksPosted ?? 0;
              blocks.failed += e.outcome.boss?.blocksFailed ?? 0;
              if (e.outcome.boss?.blocksFailed) jobLog?.job(tag, body.boss);
              for (const f of e.outcome.boss?.failed ?? []) {
                jobLog?.failedBlock(tag, f.box, f.error);
                say(`block ${f.box.min.join(",")} failed: ${f.error}`, { error: f.error }, "warn");
              }
              const v = e.outcome.verify;
              if (v) {
                const text = `verification of z=${v.z}: ${v.match ? "match" : `${v.mismatched} of ${v.voxels} voxels differ`}`;
                jobLog?.line(`${tag} ${text}`);
                say(text, { ...v }, v.match ? "info" : "warn");
              }
            }
            log.debug(
              {
                task: e.lease.id,
                ms: Math.round(e.ms),
                skipped: e.outcome.skipped,
                released: e.released,
              },
              "task done",
            );
            if (e.outcome.kind === "publish") {
              const dest = (JSON.parse(e.lease.body) as { job: string }).job;
              say(`published ${dest}: the dataset is complete`, {
                task: e.lease.id,
                destination: dest,
              });
            }
            break;
          case "failed":
            say(
              `task ${e.lease.id} (attempt ${e.lease.attempt}) failed${e.outcome === "dead" ? ", dead-lettered" : e.outcome === "retry" ? ", will retry" : ""}: ${e.error}`,
              { task: e.lease.id, attempt: e.lease.attempt, outcome: e.outcome, error: e.error },
              "warn",
            );
            break;
          case "lost":
            say(
              `lease of task ${e.lease.id} was lost (expired and taken by another worker); result dropped`,
              { task: e.lease.id },
              "warn",
            );
            break;
          case "queue-error":
            say(`queue error: ${(e.error as Error)?.message ?? String(e.error)}`, {}, "warn");
            break;
        }
      };
      const loop = new WorkerLoop({
        queue,
        handler: handler.handle,
        concurrency: flags.workers,
        leaseMs: flags.lease,
        waitMs: flags.wait,
        exitWhenEmpty: flags.exitWhenEmpty,
        onEvent,
      });
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          say(
            `${sig}: finishing ${loop.inFlight} running task(s), then exiting (again to stop now)`,
          );
          loop.stop();
          return;
        }
        say(`${sig}: handing running tasks back to the queue and exiting`);
        void loop.abort().finally(() => process.exit(130));
        setTimeout(() => process.exit(130), 5000).unref();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const status = setInterval(() => {
        const s = loop.summary;
        say(
          `work: ${s.done} done, ${loop.inFlight} running, ${s.failed} retried, ${s.dead} dead-lettered`,
          {
            ...s,
            running: loop.inFlight,
          },
        );
      }, 30_000);
      status.unref();
      say(`working on ${where} with ${flags.workers} thread(s), lease ${flags.lease / 1000}s`, {
        queue: where,
        workers: flags.workers,
        leaseMs: flags.lease,
      });
      try {
        await withJobReport(flags, "work", where, async ({ log }) => {
          jobLog = log;
          const s = await loop.run();
          say(
            `work: ${s.done} task(s) done, ${s.failed} retried, ${s.dead} dead-lettered, ${s.lost} lost lease(s)` +
              (s.stopped === "empty" ? "; the queue is drained" : ""),
            { ...s },
          );
          if (s.dead > 0)
            say(`inspect: voxport status ${url}; retry: voxport queue retry-failed ${url}`);
          const counts: Record<string, number> = {
            "tasks done": s.done,
            retried: s.failed,
            "dead-lettered": s.dead,
          };
          if (blocks.posted || blocks.failed) {
            counts["BOSS blocks posted"] = blocks.posted;
            counts["BOSS blocks failed"] = blocks.failed;
          }
          const incomplete = s.dead
            ? `${s.dead} task(s) dead-lettered`
            : blocks.failed
              ? `${blocks.failed} BOSS block(s) failed; voxport retry-log ${flags.log ?? "(no --log given)"}`
              : undefined;
          return { counts, incomplete };
        });
      } finally {
        // The signal handlers stay: a second signal while closing still means "exit now" (130).
        clearInterval(status);
        await pool.close();
        await queue.close();
      }
    });
}
