import { hostname } from "node:os";
import { JobLog } from "./job-log.js";
import { type JobReport, notifyAll } from "./webhook.js";

/**
 * Wraps a long command: opens its `--log` file, records the command line, runs it, and on the
 * way out writes the outcome to the log and posts it to every `--notify` URL. The command's
 * own result or error passes through unchanged: notifications can never fail a job.
 */

export interface ReportFlags {
  notify?: string[];
  log?: string;
}

export interface JobOutcome {
  counts: Record<string, number>;
  /** Set when the job ran to the end but did not do everything (failed blocks). */
  incomplete?: string;
}

export interface ReportContext {
  log?: JobLog;
  /** Set by the command once it knows what the job is about. */
  subject: string;
}

export async function withJobReport<T extends JobOutcome>(
  flags: ReportFlags,
  command: string,
  subject: string,
  run: (ctx: ReportContext) => Promise<T>,
  opts: { argv?: readonly string[]; warn?: (line: string) => void } = {},
): Promise<T> {
  const started = performance.now();
  const log = flags.log ? new JobLog(flags.log) : undefined;
  log?.command(opts.argv ?? ["voxport", ...process.argv.slice(2)]);
  const ctx: ReportContext = { log, subject };
  const warn = opts.warn ?? ((l: string) => process.stderr.write(`${l}\n`));
  const report = async (r: Omit<JobReport, "logTail" | "host" | "seconds" | "command">) => {
    const full: JobReport = {
      ...r,
      command,
      seconds: (performance.now() - started) / 1000,
      host: hostname(),
      logTail: log?.tail() ?? [],
    };
    if (flags.notify?.length) await notifyAll(flags.notify, full, { warn });
  };
  let out: T;
  try {
    out = await run(ctx);
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    log?.line(`failed: ${error}`);
    await report({ status: "failed", subject: ctx.subject, counts: {}, error });
    throw e;
  }
  const counts = Object.entries(out.counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
  log?.line(`${out.incomplete ? "finished with failures" : "finished"}: ${counts}`);
  await report({
    status: out.incomplete ? "failed" : "finished",
    subject: ctx.subject,
    counts: out.counts,
    error: out.incomplete,
  });
  return out;
}
