import { formatBytes, formatDuration } from "./parse.js";

/**
 * A progress line for long work. On a terminal it redraws one line on stderr with a bar, the
 * rate and an ETA; elsewhere (CI, logs, pipes) the caller logs JSON lines instead.
 */
export class ProgressBar {
  private readonly started = performance.now();
  private lastDraw = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
  ) {}

  /** `done` of `total` units (chunks), `bytes` of input processed so far (for the rate). */
  update(done: number, total: number, bytes: number, force = false): void {
    const now = performance.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 28;
    const frac = total > 0 ? done / total : 1;
    const filled = Math.round(frac * width);
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? bytes / secs : 0;
    const eta = frac > 0 && frac < 1 ? (secs / frac) * (1 - frac) : frac >= 1 ? 0 : Number.NaN;
    const line =
      `${this.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
      `${(frac * 100).toFixed(0).padStart(3)}% ${done}/${total} chunks` +
      (rate > 0 ? ` · ${formatBytes(rate)}/s` : "") +
      ` · ETA ${formatDuration(eta)}`;
    this.stream.write(
      `\r${line.padEnd((this.stream.columns ?? 100) - 1).slice(0, (this.stream.columns ?? 100) - 1)}`,
    );
  }

  finish(): void {
    this.stream.write("\n");
  }
}
