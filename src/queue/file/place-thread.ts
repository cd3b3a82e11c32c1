import { parentPort } from "node:worker_threads";
import type { QueueItem } from "../queue.js";
import { placeBatch } from "./place.js";

/** A placement thread (see place-pool.ts): places each batch it is sent, answers with the count
 * of new ids, in the message shape src/worker/pool.ts's ThreadPool reads. */

const made = new Set<string>();
parentPort?.on("message", (m: { root: string; items: QueueItem[] }) => {
  try {
    parentPort?.postMessage({ ok: true, value: placeBatch(m.root, m.items, made) });
  } catch (e) {
    const err = e as Error;
    parentPort?.postMessage({ ok: false, error: { message: err.message, stack: err.stack } });
  }
});
