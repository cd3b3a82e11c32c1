import { Worker } from "node:worker_threads";
import { type ErrorCode, VoxportError } from "../errors.js";

/**
 * A fixed pool of worker threads that run task messages. CPU-heavy work (decoding, downsampling,
 * gzip) runs off the main thread, so the main thread stays free for progress and signals.
 * Each thread keeps its own open source and store between tasks of the same job.
 */

export interface SerializedError {
  message: string;
  code?: ErrorCode;
  stack?: string;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onEvent?(e: unknown): void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  pending?: Pending;
}

const fromSource = import.meta.url.endsWith(".ts");
export const THREAD_ENTRY = new URL(`./thread${fromSource ? ".ts" : ".js"}`, import.meta.url);

/** Start a worker thread on `entry`. Built code (dist/) loads directly; when running from
 * TypeScript sources (tests, benchmarks) the thread first registers tsx's loader, because
 * Node does not carry the parent's `--import tsx` hooks into worker threads. */
export function startThread(entry: URL, options: { workerData?: unknown } = {}): Worker {
  if (!entry.pathname.endsWith(".ts")) return new Worker(entry, options);
  const api = import.meta.resolve("tsx/esm/api");
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { ...options, eval: true });
}

export function deserializeError(e: SerializedError): Error {
  const err = e.code ? new VoxportError(e.code, e.message) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

export class ThreadPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<(s: Slot) => void> = [];
  private closed = false;

  /**
   * `entry`: the thread's module (it answers each message with `{ok, value}` or `{ok: false,
   * error}`). `unrefIdle`: idle threads do not keep the process alive (for pools that live in a
   * long-lived object, such as a queue handle, rather than in one job).
   */
  constructor(
    size: number,
    private readonly entry: URL = THREAD_ENTRY,
    private readonly unrefIdle = false,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(): Slot {
    const worker = startThread(this.entry);
    if (this.unrefIdle) worker.unref();
    const slot: Slot = { worker, busy: false };
    worker.on(
      "message",
      (m: { ok?: boolean; event?: unknown; value?: unknown; error?: SerializedError }) => {
        const p = slot.pending;
        if (m.event !== undefined) {
          p?.onEvent?.(m.event);
          return;
        }
        slot.pending = undefined;
        if (!p) return;
        if (m.ok) p.resolve(m.value);
        else p.reject(deserializeError(m.error ?? { message: "unknown worker error" }));
      },
    );
    const fail = (err: Error) => {
      const p = slot.pending;
      slot.pending = undefined;
      p?.reject(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!this.closed) fail(new Error(`worker thread exited unexpectedly (code ${code})`));
    });
    return slot;
  }

  private acquire(): Promise<Slot> {
    const free = this.slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      free.worker.ref();
      return Promise.resolve(free);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else {
      slot.busy = false;
      if (this.unrefIdle) slot.worker.unref();
    }
  }

  /** Run `message` on a free thread; `onEvent` receives the events the task emits as it goes. */
  async run<T>(message: unknown, onEvent?: (e: unknown) => void): Promise<T> {
    if (this.closed) throw new Error("thread pool is closed");
    const slot = await this.acquire();
    try {
      return await new Promise<T>((resolve, reject) => {
        slot.pending = { resolve: resolve as (v: unknown) => void, reject, onEvent };
        slot.worker.postMessage(message);
      });
    } finally {
      this.release(slot);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
