import { availableParallelism } from "node:os";
import { ThreadPool } from "../../worker/pool.js";
import type { QueueItem } from "../queue.js";
import { BATCH } from "./place.js";

/**
 * Big enqueues place their batches on threads. A task costs two `link(2)` calls (~15 µs each in
 * the kernel) plus the names around them: one thread tops out near 18,000 tasks/s, and links
 * into different directories, even into the same one, proceed in parallel in the kernel. The
 * threads start on the first big enqueue (~0.1 s) and stay until the queue is closed; idle, they
 * do not keep the process alive.
 */

/** Enqueues of fewer tasks than this run on the caller's thread. */
export const THREADED_MIN = 2_000;

const fromSource = import.meta.url.endsWith(".ts");
const ENTRY = new URL(`./place-thread${fromSource ? ".ts" : ".js"}`, import.meta.url);

export class PlacePool {
  private pool?: ThreadPool;

  /** Places `list` in batches spread over the threads; returns how many ids were new. */
  async place(root: string, list: readonly QueueItem[]): Promise<number> {
    this.pool ??= new ThreadPool(Math.max(2, Math.min(4, availableParallelism())), ENTRY, true);
    const parts: Promise<number>[] = [];
    for (let i = 0; i < list.length; i += BATCH) {
      parts.push(this.pool.run<number>({ root, items: list.slice(i, i + BATCH) }));
    }
    // Every batch settles before the first failure is reported: none is left running unseen.
    const results = await Promise.allSettled(parts);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return results.reduce((n, r) => n + (r as PromiseFulfilledResult<number>).value, 0);
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}
