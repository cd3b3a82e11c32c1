import { parentPort } from "node:worker_threads";
import type { QueueItem } from "../queue.js";
import { errno, placeBatch } from "./place.js";

/** A placement thread (place-pool.ts): places the batches it is sent, answers with counts. */

const made = new Set<string>();
parentPort?.on("message", (m: { root: string; items: QueueItem[] }) => {
  try {
    parentPort?.postMessage({ n: placeBatch(m.root, m.items, made) });
  } catch (e) {
    parentPort?.postMessage({ error: { message: (e as Error).message, code: errno(e) } });
  }
});
