import { redactUrlArg } from "./job-log.js";

/**
 * Notifications for long jobs (`--notify URL`, repeatable): one POST when the job finishes or
 * fails, with counts, duration and the tail of the log. The body is a Slack incoming-webhook
 * message (`text`, shown by Slack, Mattermost, Rocket.Chat, Teams' Slack-compatible hooks) plus
 * a `voxport` object with the same facts as fields, for any other webhook. A webhook that is
 * down or refuses the message is reported on stderr and never changes the job's outcome.
 */

export interface JobReport {
  /** "ingest", "work", "retry-log". */
  command: string;
  status: "finished" | "failed";
  /** What the job was about, e.g. "./stack → boss://c/e/ch". */
  subject: string;
  counts: Record<string, number>;
  seconds: number;
  error?: string;
  logTail: string[];
  host: string;
}

export function formatDurationShort(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function messageText(r: JobReport): string {
  const counts = Object.entries(r.counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
  const head =
    `voxport ${r.command} ${r.status === "finished" ? "finished" : "FAILED"} on ${r.host}: ` +
    `${r.subject} in ${formatDurationShort(r.seconds)}` +
    (counts ? ` — ${counts}` : "") +
    (r.error ? `\nerror: ${r.error}` : "");
  return r.logTail.length ? `${head}\n\`\`\`\n${r.logTail.join("\n")}\n\`\`\`` : head;
}

export function webhookBody(r: JobReport): string {
  return JSON.stringify({ text: messageText(r), voxport: r });
}

export interface NotifyResult {
  url: string;
  ok: boolean;
  error?: string;
}

/** POST the report to every URL (10 s each, one retry); never throws. */
export async function notifyAll(
  urls: readonly string[],
  report: JobReport,
  opts: { timeoutMs?: number; warn?: (line: string) => void } = {},
): Promise<NotifyResult[]> {
  const body = webhookBody(report);
  return Promise.all(
    urls.map(async (url) => {
      const shown = redactUrlArg(url);
      let error = "";
      for (let attempt = 1; attempt <= 2; attempt++) {
        try {
          const r = await fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/json", "User-Agent": "voxport" },
            body,
            signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
          });
          await r.body?.cancel();
          if (r.ok) return { url: shown, ok: true };
          error = `HTTP ${r.status}`;
          if (r.status < 500 && r.status !== 429) break;
        } catch (e) {
          error = (e as Error).cause ? String((e as Error).cause) : (e as Error).message;
        }
      }
      opts.warn?.(`voxport: notification to ${shown} failed (${error}); the job is not affected`);
      return { url: shown, ok: false, error };
    }),
  );
}
