import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { boxKey } from "../boss/job.js";
import type { Box } from "../ops/bbox.js";

/**
 * A job log (`--log FILE`): one line per event, appended, each starting with an ISO time —
 * ndpush's `ingest_log_*.txt`, in a form `voxport retry-log FILE` reads back without prompts:
 *
 *   2026-03-01T10:00:00.000Z voxport ingest ./stack boss://c/e/ch --resolution 4,4,40
 *   2026-03-01T10:00:00.100Z JOB 1a2b3c4d {…the BOSS job, JSON…}
 *   2026-03-01T10:00:09.000Z FAILED 1a2b3c4d 1024-2000_0-1024_16-32 BOSS POST …: HTTP 500
 *   2026-03-01T10:05:00.000Z POSTED 1a2b3c4d 1024-2000_0-1024_16-32 (retry-log)
 *   2026-03-01T10:05:00.000Z finished: …
 *
 * A block is still to do when it has a FAILED line and no later POSTED line (parse_log.py's
 * rule). Secrets never get here: the command line is written with webhook URLs cut to their
 * origin, and no token is ever part of a job or an error message.
 */

const TAIL = 10;

export class JobLog {
  private readonly recent: string[] = [];
  private readonly jobs = new Set<string>();

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  line(text: string): void {
    const line = `${new Date().toISOString()} ${text.replace(/\n/g, " ")}`;
    appendFileSync(this.path, `${line}\n`);
    this.recent.push(line);
    if (this.recent.length > TAIL * 4) this.recent.splice(0, this.recent.length - TAIL);
  }

  /** The command line, with webhook URLs (which are secrets) cut to their origin. */
  command(argv: readonly string[]): void {
    this.line(redactArgv(argv).join(" "));
  }

  /** Records a job once per log, so FAILED lines can name it by tag. */
  job(tag: string, job: unknown): void {
    if (this.jobs.has(tag)) return;
    this.jobs.add(tag);
    this.line(`JOB ${tag} ${JSON.stringify(job)}`);
  }

  failedBlock(tag: string, b: Box, error: string): void {
    this.line(`FAILED ${tag} ${boxKey(b)} ${error}`);
  }

  postedBlock(tag: string, b: Box, note = "retry-log"): void {
    this.line(`POSTED ${tag} ${boxKey(b)} (${note})`);
  }

  tail(n = TAIL): string[] {
    return this.recent.slice(-n);
  }
}

export function redactUrlArg(value: string): string {
  try {
    const u = new URL(value);
    return u.pathname.length > 1 || u.search ? `${u.origin}/…` : value;
  } catch {
    return value;
  }
}

export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--notify" && i + 1 < argv.length) {
      out.push(a, redactUrlArg(argv[++i]));
    } else if (a.startsWith("--notify=")) {
      out.push(`--notify=${redactUrlArg(a.slice("--notify=".length))}`);
    } else {
      out.push(a);
    }
  }
  return out;
}

export interface ParsedLog {
  /** Jobs by tag, as recorded (JSON, unvalidated). */
  jobs: Map<string, unknown>;
  /** Blocks still to do, by job tag: FAILED without a later POSTED. */
  pending: Map<string, Map<string, string>>;
  /** Lines that looked like entries but could not be read (line number: reason). */
  problems: string[];
}

export function parseJobLog(text: string, where = "log"): ParsedLog {
  const out: ParsedLog = { jobs: new Map(), pending: new Map(), problems: [] };
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const m = /^\S+ (JOB|FAILED|POSTED) (\S+) (\S+)(?: (.*))?$/.exec(raw);
    if (!m) return;
    const [, kind, tag, key, rest] = m;
    if (kind === "JOB") {
      try {
        out.jobs.set(tag, JSON.parse(`${key}${rest ? ` ${rest}` : ""}`));
      } catch (e) {
        out.problems.push(`${where}:${i + 1}: JOB line is not JSON (${(e as Error).message})`);
      }
      return;
    }
    const blocks = out.pending.get(tag) ?? new Map<string, string>();
    out.pending.set(tag, blocks);
    if (kind === "FAILED") blocks.set(key, rest ?? "");
    else blocks.delete(key);
  });
  for (const [tag, blocks] of out.pending) if (blocks.size === 0) out.pending.delete(tag);
  return out;
}
