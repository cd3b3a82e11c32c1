import { VoxportError } from "../errors.js";
import { DEFAULT_QUEUE_OPTIONS, type Queue, type QueueOptions } from "./queue.js";

/**
 * Queue URL → backend, as python-task-queue's `initialize_api`:
 *   mem://NAME                       in-process (tests, `--workers` on one machine)
 *   fq:///abs/path  fq://rel/path    a directory queue (local disk or a shared HPC filesystem)
 *   redis://[:password@]host:port[/db]/NAME   BullMQ on Redis ≥ 5, one BullMQ queue per stage
 *   sqs://…                          AWS SQS or an emulator, see sqs/url.ts
 * Query parameters common to all: `max-attempts`, `max-leases`, `retry-delay` (ms).
 * Backends load lazily, so the AWS SDK is only imported for sqs:// URLs.
 */
export const QUEUE_SCHEMES = ["mem", "fq", "redis", "sqs"] as const;

export function queueScheme(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!m) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `queue URL ${JSON.stringify(url)} has no scheme; use one of ${QUEUE_SCHEMES.map((s) => `${s}://`).join(", ")}`,
    );
  }
  return m[1].toLowerCase();
}

/** Options from the URL's query (`?max-attempts=3`), overridden by `options`. */
export function queueOptions(url: string, options: QueueOptions = {}): Required<QueueOptions> {
  const q = url.indexOf("?");
  const params = new URLSearchParams(q >= 0 ? url.slice(q + 1) : "");
  const num = (name: string, fallback: number, min: number): number => {
    const v = params.get(name);
    if (v === null) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `queue URL parameter ${name} must be a whole number ≥ ${min} (got ${JSON.stringify(v)})`,
      );
    }
    return n;
  };
  const base = {
    maxAttempts: num("max-attempts", DEFAULT_QUEUE_OPTIONS.maxAttempts, 1),
    maxLeases: num("max-leases", DEFAULT_QUEUE_OPTIONS.maxLeases, 1),
    retryDelayMs: num("retry-delay", DEFAULT_QUEUE_OPTIONS.retryDelayMs, 0),
  };
  return {
    maxAttempts: options.maxAttempts ?? base.maxAttempts,
    maxLeases: options.maxLeases ?? base.maxLeases,
    retryDelayMs: options.retryDelayMs ?? base.retryDelayMs,
  };
}

export async function openQueue(url: string, options: QueueOptions = {}): Promise<Queue> {
  const scheme = queueScheme(url);
  const opts = queueOptions(url, options);
  switch (scheme) {
    case "mem":
      return (await import("./memory.js")).openMemoryQueue(url, opts);
    case "fq":
      return (await import("./file/queue.js")).FileQueue.open(url, opts);
    case "redis":
      return (await import("./redis/queue.js")).RedisQueue.open(url, opts);
    case "sqs":
      return (await import("./sqs/queue.js")).SqsQueue.open(url, opts);
    default:
      throw new VoxportError(
        "UNSUPPORTED",
        `unsupported queue scheme "${scheme}" in ${url}; known: ${QUEUE_SCHEMES.map((s) => `${s}://`).join(", ")}`,
      );
  }
}

/** The URL without credentials, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?]*@/i, "$1***@");
}
