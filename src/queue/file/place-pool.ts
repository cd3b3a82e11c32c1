import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { startThread } from "../../worker/pool.js";
import type { QueueItem } from "../queue.js";
import { BATCH } from "./place.js";

/**
 * Big enqueues place their batches on threads. A task costs two `link(2)` calls (~15 µs each in
 * the kernel) plus the names around them: one thread tops out near 20,000 tasks/s, and links
 * into different directories, even into the same one, proceed in parallel in the kernel. The
 * threads start on the first big enqueue (~0.1 s) and stay until the queue is closed; idle, they
 * do not keep the process alive.
 */

/** Enqueues of fewer tasks than this run on the caller's thread. */
export const THREADED_MIN = 2_000;

const fromSource = import.meta.url.endsWith(".ts");
const ENTRY = new URL(`./place-thread${fromSource ? ".ts" : ".js"}`, import.meta.url);

interface Job {
  root: string;
  items: QueueItem[];
  resolve: (n: number) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

type Reply = { n?: number; error?: { message: string; code?: string } };

export class PlacePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private closed = false;

  constructor(private readonly size = Math.max(2, Math.min(4, availableParallelism()))) {}

  /** Places `list` in batches spread over the threads; returns how many ids were new. */
  async place(root: string, list: readonly QueueItem[]): Promise<number> {
    const parts: Promise<number>[] = [];
    for (let i = 0; i < list.length; i += BATCH) {
      const items = list.slice(i, i + BATCH);
      parts.push(new Promise((resolve, reject) => this.submit({ root, items, resolve, reject })));
    }
    // Every batch settles before the first failure is reported: none is left running unseen.
    const results = await Promise.allSettled(parts);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return results.reduce((n, r) => n + (r as PromiseFulfilledResult<number>).value, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private submit(job: Job): void {
    if (this.closed) {
      job.reject(new Error("the queue was closed"));
      return;
    }
    const idle = this.slots.find((s) => !s.job);
    if (idle) this.run(idle, job);
    else if (this.slots.length < this.size) this.run(this.start(), job);
    else this.waiting.push(job);
  }

  private start(): Slot {
    const slot: Slot = { worker: startThread(ENTRY) };
    slot.worker.on("message", (m: Reply) => {
      const job = slot.job;
      slot.job = undefined;
      slot.worker.unref();
      if (m.error) job?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else job?.resolve(m.n ?? 0);
      const next = this.waiting.shift();
      if (next) this.run(slot, next);
    });
    slot.worker.on("error", (e: Error) => {
      // A thread that died takes its batch with it; the others keep going.
      this.slots.splice(this.slots.indexOf(slot), 1);
      slot.job?.reject(e);
      const next = this.waiting.shift();
      if (next) this.submit(next);
    });
    this.slots.push(slot);
    return slot;
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref();
    slot.worker.postMessage({ root: job.root, items: job.items });
  }
}
