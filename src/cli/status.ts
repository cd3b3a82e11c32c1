import type { Command } from "commander";
import { openQueue, redactUrl } from "../queue/open.js";
import {
  type DeadTask,
  type Queue,
  type QueueStats,
  type StageCounts,
  totals,
} from "../queue/queue.js";
import type { QueueJobRecord } from "../tasks/enqueue.js";
import { formatDuration } from "./parse.js";

/**
 * `voxport status QUEUE [--watch]`: per stage completed/total, in flight, retrying, dead;
 * rate and ETA; the first dead-lettered tasks with their errors. Totals come from the job
 * records `ingest --queue` leaves on the queue (the planned task count of every stage, even
 * those not enqueued yet), so the view reads like PyChunkedGraph's `ingest status`.
 */

export interface StatusRow extends StageCounts {
  /** Planned tasks of the stage (all jobs on the queue), when known. */
  total?: number;
  label: string;
}

export interface StatusReport {
  queue: string;
  jobs: QueueJobRecord[];
  rows: StatusRow[];
  done: number;
  total?: number;
  inFlight: number;
  dead: number;
  /** Tasks per second, when it can be told. */
  rate?: number;
  etaSeconds?: number;
  complete: boolean;
  deadLetters: DeadTask[];
  backlog?: QueueStats["backlog"];
}

async function jobRecords(queue: Queue): Promise<QueueJobRecord[]> {
  const out: QueueJobRecord[] = [];
  for (const [key, value] of Object.entries(await queue.getMeta())) {
    if (!key.startsWith("job:")) continue;
    try {
      out.push(JSON.parse(value) as QueueJobRecord);
    } catch {
      /* a record from another version */
    }
  }
  return out;
}

export async function statusReport(
  queue: Queue,
  url: string,
  rate?: number,
): Promise<StatusReport> {
  const [stats, jobs, deadLetters] = await Promise.all([
    queue.stats(),
    jobRecords(queue),
    queue.deadLetters(10),
  ]);
  const rows = new Map<number, StatusRow>();
  const row = (stage: number): StatusRow => {
    let r = rows.get(stage);
    if (!r) {
      r = { stage, enqueued: 0, pending: 0, delayed: 0, leased: 0, done: 0, dead: 0, label: "" };
      rows.set(stage, r);
    }
    return r;
  };
  for (const job of jobs) {
    job.stages.forEach((s, i) => {
      const r = row(i);
      r.total = (r.total ?? 0) + s.tasks;
      r.label = r.label || `scale${s.scales.includes("…") ? "s" : ""} ${s.scales}`;
    });
    const p = row(job.publishStage);
    p.total = (p.total ?? 0) + 1;
    p.label = "publish";
  }
  for (const c of stats.stages) Object.assign(row(c.stage), c);
  const list = [...rows.values()].sort((a, b) => a.stage - b.stage);
  const t = totals(stats);
  const total =
    jobs.length && list.every((r) => r.total !== undefined)
      ? list.reduce((n, r) => n + (r.total ?? 0), 0)
      : undefined;
  let r = rate;
  if (
    r === undefined &&
    stats.firstDoneAt &&
    stats.lastDoneAt &&
    stats.lastDoneAt > stats.firstDoneAt
  ) {
    r = (t.done - 1) / ((stats.lastDoneAt - stats.firstDoneAt) / 1000);
  }
  const remaining = total === undefined ? undefined : Math.max(0, total - t.done - t.dead);
  const inFlight = stats.backlog ? stats.backlog.inFlight : t.leased;
  return {
    queue: redactUrl(url),
    jobs,
    rows: list,
    done: t.done,
    total,
    inFlight,
    dead: t.dead,
    rate: r !== undefined && Number.isFinite(r) && r > 0 ? r : undefined,
    etaSeconds: remaining !== undefined && r && r > 0 ? remaining / r : undefined,
    complete: total !== undefined && t.done >= total,
    deadLetters,
    backlog: stats.backlog,
  };
}

function pct(done: number, total?: number): string {
  if (!total) return "";
  return ` (${Math.floor((100 * done) / total)}%)`;
}

export function formatStatus(s: StatusReport): string {
  const lines: string[] = [];
  lines.push(`queue ${s.queue}`);
  for (const j of s.jobs) {
    lines.push(`job   ${j.destination}${j.test ? "  [test: centre tasks only]" : ""}`);
  }
  const head = ["stage", "what", "done/total", "pending", "running", "retrying", "dead"];
  const table = s.rows.map((r) => [
    r.label === "publish" ? "-" : String(r.stage),
    r.label || "",
    `${r.done}/${r.total ?? r.enqueued}${pct(r.done, r.total ?? r.enqueued)}`,
    String(r.pending),
    s.backlog ? "?" : String(r.leased),
    s.backlog ? "?" : String(r.delayed),
    String(r.dead),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  lines.push(fmt(head));
  for (const t of table) lines.push(fmt(t));
  const rate =
    s.rate === undefined ? "rate ?" : `rate ${s.rate.toFixed(s.rate < 10 ? 2 : 0)} tasks/s`;
  const eta = s.complete
    ? "complete"
    : s.etaSeconds === undefined
      ? "ETA ?"
      : `ETA ${formatDuration(s.etaSeconds)}`;
  lines.push(
    `${s.done}${s.total !== undefined ? `/${s.total}` : ""} done · ${s.inFlight} in flight · ${s.dead} dead · ${rate} · ${eta}` +
      (s.backlog ? ` · SQS: ${s.backlog.visible} visible, ${s.backlog.delayed} delayed` : ""),
  );
  if (s.deadLetters.length) {
    lines.push("dead-lettered (fix the cause, then `voxport queue retry-failed QUEUE`):");
    for (const d of s.deadLetters) lines.push(`  ${d.id} (attempt ${d.attempt}): ${d.error}`);
    if (s.dead > s.deadLetters.length) lines.push(`  … and ${s.dead - s.deadLetters.length} more`);
  }
  return lines.join("\n");
}

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description(
      "Show a queue's progress: per stage completed/total, in flight, retrying and dead-lettered\n" +
        "tasks, the rate and an ETA, and the errors of dead-lettered tasks.",
    )
    .argument("<queue>", "queue URL")
    .option("--watch [seconds]", "refresh every few seconds (default 2) until the job completes")
    .option("--json", "print the report as JSON (one line per refresh with --watch)")
    .action(async (url: string, flags: { watch?: boolean | string; json?: boolean }) => {
      const queue = await openQueue(url);
      const every = flags.watch === undefined || flags.watch === true ? 2 : Number(flags.watch);
      const samples: { t: number; done: number }[] = [];
      const show = (s: StatusReport) => {
        if (flags.json) process.stdout.write(`${JSON.stringify(s)}\n`);
        else if (flags.watch && process.stdout.isTTY)
          process.stdout.write(`\x1b[H\x1b[2J${formatStatus(s)}\n`);
        else process.stdout.write(`${formatStatus(s)}\n`);
      };
      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.on("SIGINT", onSignal);
      try {
        for (;;) {
          let rate: number | undefined;
          if (flags.watch && samples.length > 1) {
            // The rate over the last minute of samples.
            const now = samples[samples.length - 1];
            const old = samples.find((x) => now.t - x.t <= 60_000) ?? samples[0];
            if (now.t > old.t) rate = (now.done - old.done) / ((now.t - old.t) / 1000);
          }
          const report = await statusReport(queue, url, rate);
          samples.push({ t: Date.now(), done: report.done });
          if (samples.length > 120) samples.shift();
          show(report);
          if (!flags.watch || report.complete || stop) break;
          await new Promise((r) => setTimeout(r, Math.max(0.2, every) * 1000));
          if (stop) break;
        }
      } finally {
        process.off("SIGINT", onSignal);
        await queue.close();
      }
    });
}
