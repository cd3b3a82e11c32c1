import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { BossClient } from "../boss/client.js";
import { loadBossConfig } from "../boss/config.js";
import { bossUrl, parseBossJob, parseBoxKey } from "../boss/job.js";
import { postBlocks } from "../boss/task.js";
import { VoxportError } from "../errors.js";
import { JobLog, parseJobLog } from "../notify/job-log.js";
import { withJobReport } from "../notify/report.js";
import type { Box } from "../ops/bbox.js";
import { addNotifyOptions, type NotifyFlags } from "./options.js";

/**
 * `voxport retry-log FILE`: ndpush's parse_log.py + repeat_cutouts.py in one step, without the
 * prompts. Every block the log lists as FAILED and never as POSTED afterwards is read from its
 * job's source and posted again; the outcome is appended to the same log, so running it twice
 * only retries what is still missing. Exit 0 when nothing is left, 1 when blocks still fail.
 */

interface RetryFlags extends NotifyFlags {
  bossConfig?: string;
}

export function registerRetryLog(program: Command): void {
  const cmd = program
    .command("retry-log")
    .description(
      "Re-post the BOSS blocks a job log (--log FILE of ingest or work) lists as failed.\n\n" +
        "Blocks with a FAILED line and no later POSTED line are read from the job's source and\n" +
        "posted again (same retries as the job); results are appended to FILE.\n\n" +
        "Example:\n  voxport retry-log ingest.log --boss-config ~/.intern/intern.cfg",
    )
    .argument("<file>", "job log written with --log")
    .option(
      "--boss-config <file>",
      "intern config with the token (default: the job's, then ~/.intern/intern.cfg)",
    );
  addNotifyOptions(cmd).action(async (file: string, flags: RetryFlags) => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      throw new VoxportError(
        "NOT_FOUND",
        `${file}: cannot read the log (${(e as NodeJS.ErrnoException).code})`,
      );
    }
    const parsed = parseJobLog(text, file);
    for (const p of parsed.problems) process.stderr.write(`voxport: ${p}\n`);
    let pending = 0;
    for (const blocks of parsed.pending.values()) pending += blocks.size;
    if (pending === 0) {
      process.stderr.write(`${file}: no failed blocks left to post\n`);
      return;
    }
    // Results go to the same log; --log names another file for this run's own lines.
    const log = new JobLog(file);
    const outcome = await withJobReport(
      { ...flags, log: flags.log },
      "retry-log",
      file,
      async () => {
        let posted = 0;
        let failed = 0;
        let empty = 0;
        for (const [tag, blocks] of parsed.pending) {
          const raw = parsed.jobs.get(tag);
          if (raw === undefined) {
            throw new VoxportError(
              "INVALID_ARGUMENT",
              `${file}: FAILED lines name job ${tag}, but the log has no JOB ${tag} line`,
            );
          }
          const job = parseBossJob(raw, `${file} JOB ${tag}`);
          const config = loadBossConfig({
            file: flags.bossConfig ?? job.target.configFile,
            host: job.target.host,
            protocol: job.target.protocol,
          });
          const boxes: Box[] = [];
          for (const key of blocks.keys()) {
            const b = parseBoxKey(key);
            if (!b)
              throw new VoxportError(
                "INVALID_ARGUMENT",
                `${file}: block "${key}" of job ${tag} is not x0-x1_y0-y1_z0-z1`,
              );
            boxes.push(b);
          }
          process.stderr.write(`${bossUrl(job)}: re-posting ${boxes.length} block(s)\n`);
          const r = await postBlocks({ job, client: new BossClient(config) }, boxes, (b, error) => {
            if (error) log.failedBlock(tag, b, error);
            else log.postedBlock(tag, b);
          });
          posted += r.blocksPosted;
          empty += r.blocksEmpty;
          failed += r.blocksFailed;
        }
        process.stderr.write(
          `retry-log: ${posted} posted, ${empty} now empty, ${failed} still failing\n`,
        );
        return {
          counts: { "blocks posted": posted, "empty blocks": empty, "blocks failed": failed },
          incomplete: failed
            ? `${failed} block(s) still fail; run voxport retry-log ${file} again later`
            : undefined,
        };
      },
    );
    if (outcome.incomplete) throw new VoxportError("STORAGE", outcome.incomplete);
  });
}
